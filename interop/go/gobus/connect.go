// Package gobus connects Go psrpc to the bus a URL names, for the interop peer
// and the benchmark twin, whichever psrpc version the module is built against.
package gobus

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/livekit/psrpc"
)

// Connect opens a new connection to nats://… or redis://… (or "local" for the
// process-wide in-process bus) and returns the bus with a function that closes
// the connection. compress > 0 gzips published payloads at that level.
func Connect(url string, compress int) (psrpc.MessageBus, func(), error) {
	var opts []psrpc.BusOption
	if compress > 0 {
		opts = append(opts, psrpc.WithBusCompression(psrpc.CompressionOpts{Quality: compress, Threshold: 1}))
	}
	switch {
	case url == "local":
		if local == nil {
			local = psrpc.NewLocalMessageBus(opts...)
		}
		return local, func() {}, nil
	case strings.HasPrefix(url, "nats://"):
		nc, err := nats.Connect(url)
		if err != nil {
			return nil, nil, err
		}
		return natsBus(nc, opts...), nc.Close, nil
	case strings.HasPrefix(url, "redis://"):
		o, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, err
		}
		rc := redis.NewClient(o)
		return redisBus(rc, opts...), func() { _ = rc.Close() }, nil
	default:
		return nil, nil, fmt.Errorf("unknown bus %q: use local, nats://HOST:PORT or redis://HOST:PORT", url)
	}
}

var local psrpc.MessageBus
