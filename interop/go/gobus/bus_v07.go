//go:build psrpc07

package gobus

import (
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/livekit/psrpc"
)

func natsBus(nc *nats.Conn, opts ...psrpc.BusOption) psrpc.MessageBus {
	return psrpc.NewNatsMessageBus(nc, opts...)
}

func redisBus(rc redis.UniversalClient, opts ...psrpc.BusOption) psrpc.MessageBus {
	return psrpc.NewRedisMessageBus(rc, opts...)
}
