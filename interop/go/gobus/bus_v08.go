//go:build !psrpc07

package gobus

import (
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	"github.com/livekit/psrpc"
	"github.com/livekit/psrpc/pkg/bus/natsbus"
	"github.com/livekit/psrpc/pkg/bus/redisbus"
)

// psrpc v0.8 moved the broker buses into packages of their own.

func natsBus(nc *nats.Conn, opts ...psrpc.BusOption) psrpc.MessageBus {
	return natsbus.New(nc, opts...)
}

func redisBus(rc redis.UniversalClient, opts ...psrpc.BusOption) psrpc.MessageBus {
	return redisbus.New(rc, opts...)
}
