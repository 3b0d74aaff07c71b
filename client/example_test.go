package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"time"

	"github.com/navius-dev/navius/client"
	"github.com/navius-dev/navius/internal/watch"
)

// The examples run against navius's own HTTP handler (startNavius); point
// client.New at your server instead, e.g. http://127.0.0.1:8080.

func Example() {
	srv := startNavius(watch.Options{})
	defer srv.Close()

	c, err := client.New(srv.URL, client.Options{Token: "" /* auth.tokens, when on */})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	etag, err := c.Put(ctx, "pets", "tom", []byte(`{"kind":"cat"}`))
	if err != nil {
		log.Fatal(err)
	}
	e, err := c.Get(ctx, "pets", "tom")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(e.Value), e.ETag == etag)

	_, err = c.Get(ctx, "pets", "jerry")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// {"kind":"cat"} true
	// true
}

// Update is the read-modify-write loop with If-Match: increments made
// concurrently, from any number of processes and servers, all count.
func ExampleClient_Update() {
	srv := startNavius(watch.Options{})
	defer srv.Close()
	c, _ := client.New(srv.URL, client.Options{})

	add := func(old []byte) ([]byte, error) {
		n := 0 // old is nil when the key does not exist yet
		if old != nil {
			var err error
			if n, err = strconv.Atoi(string(old)); err != nil {
				return nil, err // nothing is written
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil
	}
	done := make(chan error)
	for range 10 {
		go func() {
			_, err := c.Update(context.Background(), "counters", "visits", add)
			done <- err
		}()
	}
	for range 10 {
		if err := <-done; err != nil {
			log.Fatal(err)
		}
	}
	e, _ := c.Get(context.Background(), "counters", "visits")
	fmt.Println(string(e.Value))
	// Output: 10
}

// Conditional writes: create only, then update only the version read.
func ExampleClient_Put() {
	srv := startNavius(watch.Options{})
	defer srv.Close()
	c, _ := client.New(srv.URL, client.Options{})
	ctx := context.Background()

	etag, err := c.Put(ctx, "locks", "nightly", []byte("host-a"), client.CreateOnly(), client.TTL(time.Minute))
	fmt.Println("took the lock:", err == nil)
	_, err = c.Put(ctx, "locks", "nightly", []byte("host-b"), client.CreateOnly())
	fmt.Println("second taker:", errors.Is(err, client.ErrPrecondition))

	_, err = c.Put(ctx, "locks", "nightly", []byte("host-a, renewed"), client.IfMatch(etag), client.TTL(time.Minute))
	fmt.Println("renewed:", err == nil)
	// Output:
	// took the lock: true
	// second taker: true
	// renewed: true
}

// Watch, then list, then apply events: nothing changed after Watch
// returned is missed, and a resync means list again.
func ExampleClient_Watch() {
	srv := startNavius(watch.Options{})
	defer srv.Close()
	c, _ := client.New(srv.URL, client.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, _ = c.Put(ctx, "config", "color", []byte("blue"))

	w, err := c.Watch(ctx, "config")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	state := map[string]string{}
	relist := func() {
		clear(state)
		for e, err := range c.List(ctx, "config") {
			if err != nil {
				log.Fatal(err)
			}
			state[e.Key] = string(e.Value)
		}
	}
	relist()
	fmt.Println(state)

	go func() { // another writer
		_, _ = c.Put(ctx, "config", "color", []byte("green"))
		_ = c.Delete(ctx, "config", "color")
	}()
	for ev := range w.Events() {
		switch ev.Type {
		case client.EventPut:
			state[ev.Key] = string(ev.Value)
		case client.EventDelete, client.EventExpire:
			delete(state, ev.Key)
		case client.EventResync:
			relist()
		}
		fmt.Println(ev.Type, state)
		if ev.Type == client.EventDelete {
			break
		}
	}
	// Output:
	// map[color:blue]
	// put map[color:green]
	// delete map[]
}

// List walks every page; stop whenever.
func ExampleClient_List() {
	srv := startNavius(watch.Options{})
	defer srv.Close()
	c, _ := client.New(srv.URL, client.Options{})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		_, _ = c.Put(ctx, "letters", k, []byte("letter "+k))
	}
	for e, err := range c.List(ctx, "letters", client.PageSize(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Key, string(e.Value))
	}
	// Output:
	// a letter a
	// b letter b
	// c letter c
}

// A batch is all or nothing; a failed condition names its operation.
func ExampleClient_Batch() {
	srv := startNavius(watch.Options{})
	defer srv.Close()
	c, _ := client.New(srv.URL, client.Options{})
	ctx := context.Background()
	stock, _ := c.Put(ctx, "stock", "A1", []byte("42"))

	_, err := c.Batch(ctx,
		client.PutOp("orders", "o-17", []byte(`{"sku":"A1"}`), client.CreateOnly()),
		client.PutOp("stock", "A1", []byte("41"), client.IfMatch(stock)))
	fmt.Println("ordered:", err == nil)

	_, err = c.Batch(ctx,
		client.PutOp("orders", "o-18", []byte(`{"sku":"A1"}`), client.CreateOnly()),
		client.PutOp("stock", "A1", []byte("41"), client.IfMatch(stock))) // stale
	var ae *client.Error
	if errors.As(err, &ae) && errors.Is(err, client.ErrPrecondition) {
		fmt.Println("refused, operation", ae.Operation)
	}
	_, err = c.Get(ctx, "orders", "o-18")
	fmt.Println("o-18 written:", err == nil)
	// Output:
	// ordered: true
	// refused, operation 1
	// o-18 written: false
}
