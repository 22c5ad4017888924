package outbound

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"testing"

	"code.dny.dev/ssrf"
)

// TestControl checks the guard's decisions address by address, calling the Control hook directly,
// so that ranges no test may send traffic to (public addresses, the metadata service) are covered
// without any connection.
func TestControl(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	deflt := New(Config{})
	private := New(Config{AllowPrivateNetworks: true})
	narrow := New(Config{AllowCIDRs: pfx("10.1.0.0/16", "fd12::/16")})
	metaAllowed := New(Config{AllowCIDRs: pfx("169.254.169.254/32", "fd00:ec2::254/128")})

	tests := []struct {
		name    string
		c       *Client
		network string
		address string
		allowed bool
	}{
		{"public v4", deflt, "tcp4", "93.184.215.14:443", true},
		{"public v4 any port", deflt, "tcp4", "93.184.215.14:8443", true},
		{"public v6", deflt, "tcp6", "[2606:4700::1111]:443", true},
		{"loopback", deflt, "tcp4", "127.0.0.1:80", false},
		{"loopback v6", deflt, "tcp6", "[::1]:80", false},
		{"v4-mapped loopback", deflt, "tcp6", "[::ffff:127.0.0.1]:80", false},
		{"rfc1918 10", deflt, "tcp4", "10.0.0.1:443", false},
		{"rfc1918 172.16", deflt, "tcp4", "172.16.5.4:443", false},
		{"rfc1918 192.168", deflt, "tcp4", "192.168.1.1:443", false},
		{"ula", deflt, "tcp6", "[fd12:3456::1]:443", false},
		{"link-local", deflt, "tcp4", "169.254.1.1:80", false},
		{"link-local v6", deflt, "tcp6", "[fe80::1]:80", false},
		{"cgnat", deflt, "tcp4", "100.64.0.1:80", false},
		{"metadata", deflt, "tcp4", "169.254.169.254:80", false},
		{"metadata v6", deflt, "tcp6", "[fd00:ec2::254]:80", false},
		{"unspecified", deflt, "tcp4", "0.0.0.0:80", false},
		{"unspecified v6", deflt, "tcp6", "[::]:80", false},
		{"multicast", deflt, "tcp4", "224.0.0.1:80", false},
		{"multicast v6", deflt, "tcp6", "[ff02::1]:80", false},
		{"documentation", deflt, "tcp4", "192.0.2.1:80", false},
		{"udp", deflt, "udp4", "93.184.215.14:53", false},

		{"private: rfc1918", private, "tcp4", "10.0.0.1:443", true},
		{"private: loopback v6", private, "tcp6", "[::1]:80", true},
		{"private: metadata still refused", private, "tcp4", "169.254.169.254:80", false},
		{"private: mapped metadata still refused", private, "tcp6", "[::ffff:169.254.169.254]:80", false},
		{"private: ECS credentials still refused", private, "tcp4", "169.254.170.2:80", false},
		{"private: metadata v6 still refused", private, "tcp6", "[fd00:ec2::254]:80", false},

		{"narrow: inside", narrow, "tcp4", "10.1.2.3:443", true},
		{"narrow: outside", narrow, "tcp4", "10.2.0.1:443", false},
		{"narrow: inside v6", narrow, "tcp6", "[fd12::1]:443", true},
		{"narrow: loopback", narrow, "tcp4", "127.0.0.1:443", false},

		{"explicit metadata", metaAllowed, "tcp4", "169.254.169.254:80", true},
		{"explicit metadata v6", metaAllowed, "tcp6", "[fd00:ec2::254]:80", true},
		{"explicit metadata: neighbour", metaAllowed, "tcp4", "169.254.169.253:80", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.control(tt.network, tt.address, nil)
			if tt.allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var re *refusedError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *refusedError", err)
			}
			if !IsRefused(err) {
				t.Error("IsRefused = false")
			}
			if !errors.Is(err, ssrf.ErrProhibitedIP) && !errors.Is(err, ssrf.ErrProhibitedNetwork) {
				t.Errorf("err = %v, want an ssrf sentinel", err)
			}
		})
	}
}

func TestTransportCache(t *testing.T) {
	c := New(Config{})
	a, b := &tls.Config{}, &tls.Config{}
	if c.transport(nil) != c.transport(nil) {
		t.Error("nil config: transport not reused")
	}
	if c.transport(a) != c.transport(a) {
		t.Error("same pointer: transport not reused")
	}
	if c.transport(a) == c.transport(b) {
		t.Error("distinct pointers share a transport")
	}
	for range 2 * maxCachedTransports {
		c.transport(&tls.Config{})
	}
	if n := len(c.transports); n > maxCachedTransports {
		t.Errorf("cache holds %d transports, bound is %d", n, maxCachedTransports)
	}
	if tr := c.transport(&tls.Config{}); !tr.DisableKeepAlives {
		t.Error("uncached transport keeps connections alive")
	}
}
