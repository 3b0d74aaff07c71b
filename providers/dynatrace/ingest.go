package dynatrace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Limits of one Metrics API v2 request.
const (
	MaxLines = 1000
	MaxBytes = 1_000_000
)

// IngestReply is the Metrics API v2's JSON answer (202 and 400 alike).
type IngestReply struct {
	LinesOK      int64 `json:"linesOk"`
	LinesInvalid int64 `json:"linesInvalid"`
	Error        *struct {
		Code         int    `json:"code"`
		Message      string `json:"message"`
		InvalidLines []struct {
			Line  int    `json:"line"`
			Error string `json:"error"`
		} `json:"invalidLines"`
	} `json:"error"`
	Warnings *struct {
		Message string `json:"message"`
	} `json:"warnings"`
}

// Batches splits lines into request bodies of at most MaxLines lines and
// MaxBytes bytes.
func Batches(lines []string) [][]string {
	var out [][]string
	var cur []string
	size := 0
	for _, l := range lines {
		n := len(l) + 1 // newline
		if len(cur) > 0 && (len(cur) == MaxLines || size+n > MaxBytes) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, l)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// sendLines pushes lines in batches; the outcome goes into the stats and
// the health indicator.
func (p *Provider) sendLines(ctx context.Context, lines []string) {
	var firstErr error
	for _, b := range Batches(lines) {
		if err := p.sendBatch(ctx, b); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	p.stats.setMetricsResult(firstErr)
	if firstErr != nil && p.cfg.Log != nil {
		p.cfg.Log.Warnf("dynatrace: metrics push: %v", firstErr)
	}
}

func (p *Provider) sendBatch(ctx context.Context, lines []string) error {
	body := []byte(strings.Join(lines, "\n"))
	resp, payload, err := p.post(ctx, p.metricsURL, "text/plain; charset=utf-8", body, nil)
	if err != nil {
		p.stats.LinesDropped.Add(int64(len(lines)))
		return err
	}
	p.stats.Pushes.Add(1)
	var reply IngestReply
	_ = json.Unmarshal(payload, &reply)
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
		p.stats.LinesOK.Add(reply.LinesOK)
		p.stats.LinesInvalid.Add(reply.LinesInvalid)
		if reply.Warnings != nil && reply.Warnings.Message != "" && p.cfg.Log != nil {
			p.cfg.Log.Debugf("dynatrace: metrics ingest warning: %s", reply.Warnings.Message)
		}
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		// Some lines were invalid; the valid ones were kept, so the batch
		// is not sent again.
		p.stats.LinesOK.Add(reply.LinesOK)
		p.stats.LinesInvalid.Add(reply.LinesInvalid)
		if reply.LinesOK == 0 && reply.LinesInvalid == 0 {
			p.stats.LinesInvalid.Add(int64(len(lines)))
		}
		msg := fmt.Sprintf("%d of %d lines rejected", max(reply.LinesInvalid, int64(len(lines))-reply.LinesOK), len(lines))
		if reply.Error != nil {
			for i, il := range reply.Error.InvalidLines {
				if i == 3 {
					msg += fmt.Sprintf("; and %d more", len(reply.Error.InvalidLines)-3)
					break
				}
				line := ""
				if il.Line >= 1 && il.Line <= len(lines) {
					line = " " + strconv.Quote(truncate(lines[il.Line-1], 120))
				}
				msg += fmt.Sprintf("; line %d%s: %s", il.Line, line, il.Error)
			}
		}
		return errors.New(msg)
	case resp.StatusCode == http.StatusRequestEntityTooLarge && len(lines) > 1:
		half := len(lines) / 2
		return errors.Join(p.sendBatch(ctx, lines[:half]), p.sendBatch(ctx, lines[half:]))
	default:
		p.stats.LinesDropped.Add(int64(len(lines)))
		return statusError(resp.StatusCode, payload, "metrics.ingest")
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// statusError describes an answer that ends a request for good.
func statusError(code int, payload []byte, scope string) error {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		if scope == "" {
			return fmt.Errorf("HTTP %d: the token was refused; check dynatrace.token and its scopes", code)
		}
		return fmt.Errorf("HTTP %d: the token was refused; check dynatrace.token and its %s scope", code, scope)
	case http.StatusNotFound:
		return fmt.Errorf("HTTP 404: no such API at this endpoint; check dynatrace.endpoint")
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("HTTP 413: request too large")
	}
	return fmt.Errorf("HTTP %d: %s", code, truncate(strings.TrimSpace(string(payload)), 200))
}

// retryable reports whether an answer may succeed when sent again.
func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// post sends body and returns the final answer, retrying network errors,
// 429 and 5xx with exponential backoff (honouring Retry-After) up to
// MaxRetries times. The caller reads resp.StatusCode; the body is read.
func (p *Provider) post(ctx context.Context, url, contentType string, body []byte, header http.Header) (*http.Response, []byte, error) {
	delay := p.cfg.Backoff
	for attempt := 0; ; attempt++ {
		resp, payload, err := p.postOnce(ctx, url, contentType, body, header)
		if err == nil && !retryable(resp.StatusCode) {
			return resp, payload, nil
		}
		if attempt >= p.cfg.MaxRetries || ctx.Err() != nil {
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w (gave up after %d attempts)", url, err, attempt+1)
			}
			return nil, nil, fmt.Errorf("%s: %w (gave up after %d attempts)", url, statusError(resp.StatusCode, payload, ""), attempt+1)
		}
		wait := delay
		if resp != nil {
			if ra := retryAfter(resp.Header.Get("Retry-After")); ra > 0 {
				wait = min(ra, 60*time.Second)
			}
		}
		p.stats.Retries.Add(1)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func (p *Provider) postOnce(ctx context.Context, url, contentType string, body []byte, header http.Header) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "navius/"+p.cfg.Version)
	for k, v := range header {
		req.Header[k] = v
	}
	if p.cfg.Token != "" {
		req.Header.Set("Authorization", "Api-Token "+p.cfg.Token)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, err
	}
	return resp, payload, nil
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
