package outbound

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"
)

// CheckHost reports whether the client may connect to host (a name or an IP literal, without a
// port), so that a URL can be refused when it is stored rather than at every later call: nil when
// every address the host resolves to is allowed, an error (classified EUpstreamRefused) naming the
// settings that lift the guard when one is not. A name that does not resolve now is not refused:
// the dialer's guard checks every connection anyway.
func (c *Client) CheckHost(ctx context.Context, host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		resolver := c.cfg.Resolver
		if resolver == nil {
			resolver = net.DefaultResolver
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		found, err := resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil
		}
		addrs = found
	}
	for _, ip := range addrs {
		ip = ip.Unmap()
		network := "tcp6"
		if ip.Is4() {
			network = "tcp4"
		}
		if err := c.control(network, netip.AddrPortFrom(ip, 443).String(), nil); err != nil {
			return Classify(err)
		}
	}
	return nil
}
