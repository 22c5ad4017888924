package oauth

import (
	"net/url"
	"testing"
)

// TestBaseStringRFC5849 checks the signature base string against the worked example of RFC 5849
// section 3.4.1.1.
func TestBaseStringRFC5849(t *testing.T) {
	u, _ := url.Parse("http://example.com/request")
	params := url.Values{
		"b5": {"=%3D"}, "a3": {"a", "2 q"}, "c@": {""}, "a2": {"r b"}, "c2": {""},
		"oauth_consumer_key": {"9djdj82h48djs9d2"}, "oauth_token": {"kkk9d7dh3k39sjv7"},
		"oauth_signature_method": {"HMAC-SHA1"}, "oauth_timestamp": {"137131201"}, "oauth_nonce": {"7d8f3e4a"},
	}
	want := "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
	if got := baseString("post", u, params); got != want {
		t.Errorf("base string\n got %s\nwant %s", got, want)
	}
	// Default ports are dropped and scheme and host lower-cased (section 3.4.1.2).
	u, _ = url.Parse("HTTPS://Example.COM:443/a%20b")
	if got := baseString("GET", u, nil); got != "GET&https%3A%2F%2Fexample.com%2Fa%2520b&" {
		t.Errorf("base URI: %s", got)
	}
}
