package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is a stored value with its ETag.
type Entry struct {
	Key   string
	Value []byte
	// ETag is the entry's version as the server sends it, in quotes; give
	// it back to IfMatch as it is.
	ETag string
}

// Get reads a key: its value and ETag, or an error that is ErrNotFound.
func (c *Client) Get(ctx context.Context, collection, key string) (Entry, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: keyPath(collection, key), idempotent: true})
	if err != nil {
		return Entry{}, err
	}
	defer resp.Body.Close()
	v, err := io.ReadAll(resp.Body)
	if err != nil {
		return Entry{}, &netError{err: err, sent: true}
	}
	return Entry{Key: key, Value: v, ETag: resp.Header.Get("ETag")}, nil
}

// WriteOption is a condition or a time to live of a write.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ifMatch    []string
	ifExists   bool
	createOnly bool
	ttl        time.Duration
}

// IfMatch writes only if the entry exists with one of these ETags (as Get,
// Put or List gave them); otherwise the write fails with ErrPrecondition.
func IfMatch(etags ...string) WriteOption {
	return func(o *writeOptions) { o.ifMatch = append(o.ifMatch, etags...) }
}

// IfExists writes only if the entry exists (If-Match: *).
func IfExists() WriteOption { return func(o *writeOptions) { o.ifExists = true } }

// CreateOnly writes only if the entry does not exist (If-None-Match: *).
func CreateOnly() WriteOption { return func(o *writeOptions) { o.createOnly = true } }

// TTL gives a put a time to live; without it the entry does not expire.
func TTL(d time.Duration) WriteOption { return func(o *writeOptions) { o.ttl = d } }

func collect(opts []WriteOption) writeOptions {
	var o writeOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// ifMatch is the If-Match field value, "" for none.
func (o writeOptions) ifMatchValue() string {
	if o.ifExists {
		return "*"
	}
	tags := make([]string, len(o.ifMatch))
	for i, t := range o.ifMatch {
		if !strings.HasPrefix(t, `"`) && !strings.HasPrefix(t, `W/"`) {
			t = `"` + t + `"` // a bare version
		}
		tags[i] = t
	}
	return strings.Join(tags, ", ")
}

func (o writeOptions) header() http.Header {
	h := http.Header{}
	if v := o.ifMatchValue(); v != "" {
		h.Set("If-Match", v)
	}
	if o.createOnly {
		h.Set("If-None-Match", "*")
	}
	return h
}

// Put stores value under key and returns its new ETag. With IfMatch,
// IfExists or CreateOnly it is conditional (ErrPrecondition when the
// condition fails, nothing written); with TTL the entry expires.
func (c *Client) Put(ctx context.Context, collection, key string, value []byte, opts ...WriteOption) (string, error) {
	o := collect(opts)
	req := request{method: http.MethodPut, path: keyPath(collection, key), header: o.header(), body: value}
	if req.body == nil {
		req.body = []byte{}
	}
	req.header.Set("Content-Type", "application/octet-stream")
	if o.ttl != 0 {
		req.query = url.Values{"ttl": {o.ttl.String()}}
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Header.Get("ETag"), nil
}

// Delete removes key; ErrNotFound when it does not exist. With IfMatch or
// IfExists it is conditional.
func (c *Client) Delete(ctx context.Context, collection, key string, opts ...WriteOption) error {
	o := collect(opts)
	if o.createOnly || o.ttl != 0 {
		return errors.New("navius client: Delete takes IfMatch or IfExists, not CreateOnly or TTL")
	}
	resp, err := c.do(ctx, request{method: http.MethodDelete, path: keyPath(collection, key), header: o.header()})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// ListOption narrows or sizes a List.
type ListOption func(*listOptions)

type listOptions struct {
	filter   string
	pageSize int
}

// Filter lists only entries whose value contains s.
func Filter(s string) ListOption { return func(o *listOptions) { o.filter = s } }

// PageSize sets how many entries each request fetches (1-1000; the
// server's default is 100).
func PageSize(n int) ListOption { return func(o *listOptions) { o.pageSize = n } }

// List walks the whole collection, page after page, as the iteration
// needs them. A walk yields every entry that exists throughout it exactly
// once. A failed page ends the walk with its error.
func (c *Client) List(ctx context.Context, collection string, opts ...ListOption) iter.Seq2[Entry, error] {
	var o listOptions
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(Entry, error) bool) {
		cursor := ""
		for {
			q := url.Values{}
			if o.filter != "" {
				q.Set("filter", o.filter)
			}
			if o.pageSize > 0 {
				q.Set("limit", strconv.Itoa(o.pageSize))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			page, err := c.page(ctx, collection, q)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, it := range page.Items {
				e := Entry{Key: it.Key, ETag: it.ETag, Value: it.ValueBase64}
				if it.Value != nil {
					e.Value = []byte(*it.Value)
				}
				if e.Value == nil {
					e.Value = []byte{}
				}
				if !yield(e, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			cursor = page.NextCursor
		}
	}
}

type listPage struct {
	Items []struct {
		Key         string  `json:"key"`
		ETag        string  `json:"etag"`
		Value       *string `json:"value"`
		ValueBase64 []byte  `json:"value_base64"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (c *Client) page(ctx context.Context, collection string, q url.Values) (listPage, error) {
	var page listPage
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/" + collection, query: q, idempotent: true})
	if err != nil {
		return page, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return page, fmt.Errorf("navius client: reading a page of %s: %w", collection, err)
	}
	return page, nil
}

// Op is one operation of a batch; make it with PutOp or DeleteOp.
type Op struct {
	del             bool
	collection, key string
	value           []byte
	opts            writeOptions
}

// PutOp is a put for Batch; opts as for Put.
func PutOp(collection, key string, value []byte, opts ...WriteOption) Op {
	return Op{collection: collection, key: key, value: value, opts: collect(opts)}
}

// DeleteOp is a delete for Batch; opts as for Delete.
func DeleteOp(collection, key string, opts ...WriteOption) Op {
	return Op{del: true, collection: collection, key: key, opts: collect(opts)}
}

// Result is the outcome of one operation of an applied batch.
type Result struct {
	// ETag is a put's new ETag.
	ETag string
	// Deleted tells whether a delete's key existed.
	Deleted bool
}

// Batch applies ops all or nothing: every condition holds and every
// operation is applied, or nothing is written. A failed condition is an
// error that is ErrPrecondition, whose *Error names the operation
// (Operation).
func (c *Client) Batch(ctx context.Context, ops ...Op) ([]Result, error) {
	type jsonOp struct {
		Op          string  `json:"op"`
		Collection  string  `json:"collection"`
		Key         string  `json:"key"`
		Value       *string `json:"value,omitempty"`
		ValueBase64 []byte  `json:"value_base64,omitempty"`
		IfMatch     string  `json:"if_match,omitempty"`
		IfNoneMatch string  `json:"if_none_match,omitempty"`
		TTL         string  `json:"ttl,omitempty"`
	}
	body := struct {
		Operations []jsonOp `json:"operations"`
	}{Operations: make([]jsonOp, len(ops))}
	for i, op := range ops {
		j := jsonOp{Op: "put", Collection: op.collection, Key: op.key, IfMatch: op.opts.ifMatchValue()}
		switch {
		case op.del:
			j.Op = "delete"
		case utf8.Valid(op.value):
			v := string(op.value)
			j.Value = &v
		default:
			j.ValueBase64 = op.value
		}
		if op.opts.createOnly {
			j.IfNoneMatch = "*"
		}
		if op.opts.ttl != 0 {
			j.TTL = op.opts.ttl.String()
		}
		body.Operations[i] = j
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/_batch", body: b,
		header: http.Header{"Content-Type": {"application/json"}}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			ETag    string `json:"etag"`
			Deleted bool   `json:"deleted"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, &netError{err: fmt.Errorf("reading the batch's results: %w", err), sent: true}
	}
	res := make([]Result, len(out.Results))
	for i, r := range out.Results {
		res[i] = Result{ETag: r.ETag, Deleted: r.Deleted}
	}
	return res, nil
}

// Update changes a key by fn, safely against concurrent writers: it reads
// the entry, calls fn with its value (nil when the key does not exist),
// and writes fn's result only if nobody wrote in between (If-Match, or
// create-only for a new key). When someone did, it pauses briefly and
// starts over, up to Options.MaxConflicts times. It returns the new ETag,
// or fn's error (nothing written).
func (c *Client) Update(ctx context.Context, collection, key string, fn func(old []byte) ([]byte, error)) (string, error) {
	for conflict := 0; ; conflict++ {
		var old []byte
		var opt WriteOption
		e, err := c.Get(ctx, collection, key)
		switch {
		case err == nil:
			old, opt = e.Value, IfMatch(e.ETag)
		case errors.Is(err, ErrNotFound):
			opt = CreateOnly()
		default:
			return "", err
		}
		v, err := fn(old)
		if err != nil {
			return "", err
		}
		etag, err := c.Put(ctx, collection, key, v, opt)
		if !errors.Is(err, ErrPrecondition) {
			return etag, err
		}
		if conflict+1 >= c.opts.MaxConflicts {
			return "", fmt.Errorf("navius client: Update of %s/%s lost to other writers %d times: %w", collection, key, conflict+1, err)
		}
		// A short pause spreads the contenders; contention clears within
		// a few round trips, so it grows slowly and stays small.
		pause := time.Duration(rand.N(int64(time.Millisecond) << min(conflict, 6)))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}
