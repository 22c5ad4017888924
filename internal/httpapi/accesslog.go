package httpapi

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
)

// ProxyAccessLog says which proxied calls the request log records. A busy proxy writes one line
// per call otherwise (two minutes of load wrote hundreds of megabytes); every other API request
// is always logged. A failure is an answer of 400 or above, Plugboard's own or the upstream's;
// server errors (5xx but 501) are logged at ERROR whatever the setting.
type ProxyAccessLog struct {
	mode  proxyLogMode
	every uint64 // for sample: one successful call in every
}

type proxyLogMode uint8

const (
	proxyLogAll    proxyLogMode = iota // every call, at INFO
	proxyLogSample                     // one successful call in every N; every failure
	proxyLogErrors                     // failures only
	proxyLogOff                        // none (server errors still are)
	proxyLogDebug                      // every call, at DEBUG: shown only when the logger's level is debug
)

// ProxyAccessLogValues describes the accepted values, for usage texts.
const ProxyAccessLogValues = "all, sample:N (one successful call in N, every failure), errors, debug or off"

// ParseProxyAccessLog reads a ProxyAccessLog: all (the default, also for ""), sample:N, errors,
// debug or off.
func ParseProxyAccessLog(v string) (ProxyAccessLog, error) {
	v = strings.TrimSpace(strings.ToLower(v))
	switch v {
	case "", "all":
		return ProxyAccessLog{}, nil
	case "errors":
		return ProxyAccessLog{mode: proxyLogErrors}, nil
	case "off":
		return ProxyAccessLog{mode: proxyLogOff}, nil
	case "debug":
		return ProxyAccessLog{mode: proxyLogDebug}, nil
	}
	if n, ok := strings.CutPrefix(v, "sample:"); ok {
		every, err := strconv.ParseUint(n, 10, 32)
		if err == nil && every >= 1 {
			return ProxyAccessLog{mode: proxyLogSample, every: every}, nil
		}
	}
	return ProxyAccessLog{}, fmt.Errorf("%q is not one of %s", v, ProxyAccessLogValues)
}

// String is the setting as ParseProxyAccessLog reads it.
func (p ProxyAccessLog) String() string {
	switch p.mode {
	case proxyLogSample:
		return "sample:" + strconv.FormatUint(p.every, 10)
	case proxyLogErrors:
		return "errors"
	case proxyLogOff:
		return "off"
	case proxyLogDebug:
		return "debug"
	}
	return "all"
}

// level returns the level to log a proxied call that answered status at, and false when it is
// not logged; n counts successful calls, for sampling.
func (p ProxyAccessLog) level(status int, n *atomic.Uint64) (slog.Level, bool) {
	failed := status >= 400
	switch p.mode {
	case proxyLogSample:
		return slog.LevelInfo, failed || n.Add(1)%p.every == 1%p.every
	case proxyLogErrors:
		return slog.LevelInfo, failed
	case proxyLogOff:
		return 0, false
	case proxyLogDebug:
		return slog.LevelDebug, true
	}
	return slog.LevelInfo, true
}
