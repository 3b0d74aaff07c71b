package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/navius-dev/navius/providers"
)

// POST /api/v1/_batch applies several writes all or nothing, across
// collections (collection names cannot start with '_', so the path is
// free).

type batchRequest struct {
	Operations []batchOp `json:"operations"`
}

type batchOp struct {
	Op          string  `json:"op"`
	Collection  string  `json:"collection"`
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 []byte  `json:"value_base64"`
	IfMatch     string  `json:"if_match"`
	IfNoneMatch string  `json:"if_none_match"`
	TTL         string  `json:"ttl"`
}

type batchResult struct {
	ETag    string `json:"etag,omitempty"`
	Deleted *bool  `json:"deleted,omitempty"`
}

// batchError is a 412 or 422 body that names the operation.
type batchError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Operation int    `json:"operation"`
		RequestID string `json:"request_id,omitempty"`
	} `json:"error"`
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, s.MaxBatchBytes, s.batchTooLarge)
	if !ok {
		return
	}
	ops, conds, status, err := s.parseBatch(body)
	if err != nil {
		code := "invalid_batch"
		if status == http.StatusRequestEntityTooLarge {
			code = "payload_too_large"
		}
		writeError(w, r, status, code, err.Error())
		return
	}
	res, err := s.Store.Apply(r.Context(), ops)
	var pe *providers.PreconditionError
	switch {
	case errors.As(err, &pe) && pe.Op >= 0 && pe.Op < len(ops):
		op := ops[pe.Op]
		msg := fmt.Sprintf("operation %d (%s %s/%s): %s", pe.Op, opName(op), op.Collection, op.Key, preconditionMessage(pe, conds[pe.Op]))
		writeBatchError(w, r, http.StatusPreconditionFailed, "precondition_failed", msg, pe.Op)
		return
	case errors.Is(err, providers.ErrNotAtomic):
		writeBatchError(w, r, http.StatusUnprocessableEntity, "not_atomic", err.Error()+"; nothing was written", -1)
		return
	case err != nil:
		s.storeError(w, r, err)
		return
	}
	out := struct {
		Results []batchResult `json:"results"`
	}{Results: make([]batchResult, len(res))}
	for i, x := range res {
		if ops[i].Delete {
			deleted := x.Existed
			out.Results[i].Deleted = &deleted
		} else if x.Version != "" {
			out.Results[i].ETag = quoteETag(x.Version)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func opName(op providers.BatchOp) string {
	if op.Delete {
		return "delete"
	}
	return "put"
}

func (s *Server) batchTooLarge(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusRequestEntityTooLarge, "payload_too_large",
		fmt.Sprintf("the batch exceeds the %d-byte limit (server.max_batch_bytes): split it", s.MaxBatchBytes))
}

// parseBatch checks a batch body whole before anything is applied; on an
// error it returns the status to answer (400 or 413).
func (s *Server) parseBatch(body []byte) ([]providers.BatchOp, []providers.Condition, int, error) {
	bad := func(format string, args ...any) ([]providers.BatchOp, []providers.Condition, int, error) {
		return nil, nil, http.StatusBadRequest, fmt.Errorf(format, args...)
	}
	var req batchRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return bad("the batch is not valid JSON of the expected shape (%s): send {\"operations\":[{\"op\":\"put\",\"collection\":\"c\",\"key\":\"k\",\"value\":\"...\"}]}", cut(err.Error(), 200))
	}
	if dec.More() {
		return bad("the batch has data after its JSON object: send one object")
	}
	switch n := len(req.Operations); {
	case n == 0:
		return bad("the batch has no operations: send {\"operations\":[...]} with at least one")
	case s.MaxBatchOps > 0 && n > s.MaxBatchOps:
		return nil, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the batch has %d operations, above the limit of %d (server.max_batch_operations): split it", n, s.MaxBatchOps)
	}
	ops := make([]providers.BatchOp, len(req.Operations))
	conds := make([]providers.Condition, len(req.Operations))
	seen := make(map[string]int, len(req.Operations))
	for i, o := range req.Operations {
		at := fmt.Sprintf("operation %d: ", i)
		op := providers.BatchOp{Collection: o.Collection, Key: o.Key}
		switch o.Op {
		case "put":
			switch {
			case o.Value != nil && o.ValueBase64 != nil:
				return bad("%sboth value and value_base64: send one", at)
			case o.Value != nil:
				op.Value = []byte(*o.Value)
			case o.ValueBase64 != nil:
				op.Value = o.ValueBase64
			default:
				return bad("%sa put needs value (text) or value_base64 (bytes)", at)
			}
			if int64(len(op.Value)) > s.MaxBody {
				return nil, nil, http.StatusRequestEntityTooLarge, fmt.Errorf("%sthe value exceeds the %d-byte limit (server.max_body_bytes)", at, s.MaxBody)
			}
			if o.TTL != "" {
				ttl, err := parseTTL(o.TTL, s.MaxTTL)
				if err != nil {
					return bad("%s%v", at, err)
				}
				op.TTL = ttl
			}
		case "delete":
			op.Delete = true
			if o.Value != nil || o.ValueBase64 != nil || o.TTL != "" {
				return bad("%sa delete takes no value and no ttl", at)
			}
		case "":
			return bad("%sop is missing: use put or delete", at)
		default:
			return bad("%sop %.20q is unknown: use put or delete", at, o.Op)
		}
		if !validCollection(o.Collection) {
			return bad("%scollection %.80q is invalid: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", at, o.Collection)
		}
		if !validKey(o.Key) {
			return bad("%skey %.80q is invalid: use 1-512 letters, digits or any of "+keyChars, at, o.Key)
		}
		id := o.Collection + "/" + o.Key
		if j, dup := seen[id]; dup {
			return bad("operations %d and %d both write %s: a batch may write each key once", j, i, id)
		}
		seen[id] = i
		cond, err := batchCondition(o)
		if err != nil {
			return bad("%s%v", at, err)
		}
		op.Condition, conds[i] = cond, cond
		ops[i] = op
	}
	return ops, conds, 0, nil
}

// batchCondition reads an operation's if_match and if_none_match, which
// take what the headers take; a bare version (without quotes) is read as
// one ETag.
func batchCondition(o batchOp) (providers.Condition, error) {
	field := func(name, v string) (etagList, error) {
		if v == "" {
			return etagList{}, nil
		}
		if !strings.ContainsAny(v, `"*,`) && providers.ValidVersion(v) {
			v = quoteETag(v)
		}
		return parseETags(http.Header{name: {v}}, name)
	}
	im, err := field("If-Match", o.IfMatch)
	if err != nil {
		return providers.Condition{}, errors.New(strings.Replace(err.Error(), "If-Match", "if_match", 2))
	}
	inm, err := field("If-None-Match", o.IfNoneMatch)
	if err != nil {
		return providers.Condition{}, errors.New(strings.Replace(err.Error(), "If-None-Match", "if_none_match", 2))
	}
	c, err := conditionOf(im, inm)
	if err != nil {
		r := strings.NewReplacer("If-Match", "if_match", "If-None-Match", "if_none_match")
		return c, errors.New(r.Replace(err.Error()))
	}
	return c, nil
}

func writeBatchError(w http.ResponseWriter, r *http.Request, status int, code, msg string, op int) {
	var body batchError
	body.Error.Code, body.Error.Message, body.Error.Operation = code, msg, op
	body.Error.RequestID = w.Header().Get("X-Request-ID")
	if op < 0 {
		writeError(w, r, status, code, msg)
		return
	}
	writeJSON(w, status, body)
}

// cut shortens s to n bytes for echoing, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
