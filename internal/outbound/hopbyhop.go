package outbound

import (
	"net/http"
	"strings"
)

// HopByHop are the headers of one connection (RFC 9110 section 7.6.1), never passed on by the
// proxy nor kept from an inbound delivery.
var HopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// StripHopByHop removes the hop-by-hop headers and those the Connection header names.
func StripHopByHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range HopByHop {
		h.Del(name)
	}
}
