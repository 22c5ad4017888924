package cli_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/cli"
	"github.com/plugboard/plugboard/internal/outbound"
)

// TestOutboundSettings: the guard settings parse as documented, and a bad value names its variable.
func TestOutboundSettings(t *testing.T) {
	withCIDRs := func(ps ...string) outbound.Config {
		c := outbound.Config{}
		for _, p := range ps {
			c.AllowCIDRs = append(c.AllowCIDRs, netip.MustParsePrefix(p))
		}
		return c
	}
	private := outbound.Config{}
	private.AllowPrivateNetworks = true

	tests := []struct {
		name    string
		env     map[string]string
		want    outbound.Config
		wantErr string // the variable the error must name
	}{
		{"empty", nil, outbound.Config{}, ""},
		{"private true", map[string]string{"PLUGBOARD_ALLOW_PRIVATE_NETWORKS": "true"}, private, ""},
		{"private TRUE padded", map[string]string{"PLUGBOARD_ALLOW_PRIVATE_NETWORKS": " TRUE "}, private, ""},
		{"private 1", map[string]string{"PLUGBOARD_ALLOW_PRIVATE_NETWORKS": "1"}, private, ""},
		{"private false", map[string]string{"PLUGBOARD_ALLOW_PRIVATE_NETWORKS": "false"}, outbound.Config{}, ""},
		{"private invalid", map[string]string{"PLUGBOARD_ALLOW_PRIVATE_NETWORKS": "yes"}, outbound.Config{}, "PLUGBOARD_ALLOW_PRIVATE_NETWORKS"},
		{"one CIDR", map[string]string{"PLUGBOARD_ALLOW_CIDRS": "127.0.0.0/8"}, withCIDRs("127.0.0.0/8"), ""},
		{"several CIDRs, spaces, empty items", map[string]string{"PLUGBOARD_ALLOW_CIDRS": " 127.0.0.0/8, 10.1.0.0/16,,fd00:1::/48, "},
			withCIDRs("127.0.0.0/8", "10.1.0.0/16", "fd00:1::/48"), ""},
		{"host bits cleared", map[string]string{"PLUGBOARD_ALLOW_CIDRS": "10.1.2.3/16"}, withCIDRs("10.1.0.0/16"), ""},
		{"bare address", map[string]string{"PLUGBOARD_ALLOW_CIDRS": "10.1.2.3"}, outbound.Config{}, "PLUGBOARD_ALLOW_CIDRS"},
		{"garbage CIDR", map[string]string{"PLUGBOARD_ALLOW_CIDRS": "127.0.0.0/8,nope"}, outbound.Config{}, "PLUGBOARD_ALLOW_CIDRS"},
		{"both", map[string]string{"PLUGBOARD_ALLOW_PRIVATE_NETWORKS": "true", "PLUGBOARD_ALLOW_CIDRS": "192.168.0.0/16"},
			func() outbound.Config { c := withCIDRs("192.168.0.0/16"); c.AllowPrivateNetworks = true; return c }(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := cli.LoadConfig(nil, func(k string) string { return tt.env[k] })
			got := cfg.Outbound
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
