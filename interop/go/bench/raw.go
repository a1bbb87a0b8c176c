package main

// The raw round trip through the Go client libraries psrpc uses (nats.go,
// go-redis) with no psrpc at all, shaped as psrpc-bench's raw.rs: the limit
// Go psrpc sits on, beside the one psrpc-rs sits on.

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// The request subject (channel), and the prefix of the callers' reply
// channels, are this process's own, so runs on a shared broker don't answer
// each other.
var (
	rawSubject = "psrpc.bench.raw." + strconv.Itoa(os.Getpid())
	rawReplies = "psrpc.bench.rep." + strconv.Itoa(os.Getpid()) + "."
)

// setupRaw starts the raw echo server for url and returns the round trip to
// drive; the server and the caller each have their own connection.
func setupRaw(url string, payload, concurrency int) (call, error) {
	body := make([]byte, payload)
	for i := range body {
		body[i] = 0x5a
	}
	switch {
	case url == "local":
		return rawLocal(body), nil
	case strings.HasPrefix(url, "nats://"):
		return rawNATS(url, body)
	case strings.HasPrefix(url, "redis://"):
		return rawRedis(url, body, concurrency)
	}
	return nil, fmt.Errorf("unknown bus %q", url)
}

// rawLocal: a channel to a server goroutine and a channel back.
func rawLocal(body []byte) call {
	type request struct {
		body  []byte
		reply chan []byte
	}
	requests := make(chan request, 1024)
	go func() {
		for r := range requests {
			r.reply <- r.body
		}
	}()
	return func(int) error {
		reply := make(chan []byte, 1)
		requests <- request{body, reply}
		<-reply
		return nil
	}
}

// rawNATS: nats.go request/reply (publish to a subject, reply to the inbox).
func rawNATS(url string, body []byte) (call, error) {
	server, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	client, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	if _, err = server.Subscribe(rawSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return nil, err
	}
	if err = server.Flush(); err != nil {
		return nil, err
	}
	return func(int) error {
		_, err := client.Request(rawSubject, body, 10*time.Second)
		return err
	}, nil
}

// rawRedis: PUBLISH to a request channel carrying the caller's number; the
// server PUBLISHes the payload back on that caller's reply channel.
func rawRedis(url string, body []byte, concurrency int) (call, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	server, client := redis.NewClient(opts), redis.NewClient(opts)
	ctx := context.Background()

	requests := server.Subscribe(ctx, rawSubject)
	if _, err = requests.Receive(ctx); err != nil {
		return nil, err
	}
	go func() {
		for m := range requests.Channel() {
			data := []byte(m.Payload)
			if len(data) < 4 {
				continue
			}
			worker := binary.LittleEndian.Uint32(data)
			go server.Publish(ctx, rawReplies+strconv.FormatUint(uint64(worker), 10), data[4:])
		}
	}()

	channels := make([]string, concurrency)
	waiting := make(map[string]chan struct{}, concurrency)
	replies := make([]chan struct{}, concurrency)
	for worker := range concurrency {
		channels[worker] = rawReplies + strconv.Itoa(worker)
		replies[worker] = make(chan struct{}, 1)
		waiting[channels[worker]] = replies[worker]
	}
	responses := client.Subscribe(ctx, channels...)
	for range channels {
		if _, err = responses.Receive(ctx); err != nil {
			return nil, err
		}
	}
	go func() {
		for m := range responses.Channel() {
			if reply, ok := waiting[m.Channel]; ok {
				select {
				case reply <- struct{}{}:
				default:
				}
			}
		}
	}()

	return func(worker int) error {
		request := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(worker))
		request = append(request, body...)
		if err := client.Publish(ctx, rawSubject, request).Err(); err != nil {
			return err
		}
		<-replies[worker]
		return nil
	}, nil
}
