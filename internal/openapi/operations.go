package openapi

// details are what the endpoint table does not say of an operation.
type details struct {
	id, summary string
	params      []obj
	body        obj
	responses   obj
	// head, when set, describes the HEAD the GET also answers.
	head *details
}

// operations returns the details of navius's own endpoints by "METHOD
// path", made anew on each call (Build adds to them).
func operations() map[string]details {
	p := func(name string) obj { return ref("parameters", name) }
	r := func(name string) obj { return ref("responses", name) }
	s := func(name string) obj { return ref("schemas", name) }
	h := func(name string) obj { return ref("headers", name) }
	json := func(schema obj) obj { return obj{"application/json": obj{"schema": schema}} }
	text := obj{"text/plain": obj{"schema": obj{"type": "string"}}}
	keyParams := []obj{p("Collection"), p("Key")}
	return map[string]details{
		"PUT /api/v1/{collection}/{key}": {
			id: "putKey", summary: "Store a value",
			params: append(keyParams, p("TTL"), p("IfMatch"), p("IfNoneMatch")),
			body: obj{"required": true, "description": "The value: any bytes, up to server.max_body_bytes.",
				"content": obj{"application/octet-stream": obj{}, "*/*": obj{}}},
			responses: obj{
				"204": obj{"description": "Stored; ETag is the new version.", "headers": obj{"ETag": h("ETag"), "X-Request-ID": h("RequestID")}},
				"400": r("BadRequest"), "412": r("PreconditionFailed"), "413": r("PayloadTooLarge"),
				"500": r("Internal"), "501": r("NotImplemented"), "503": r("Unavailable"),
			},
		},
		"GET /api/v1/{collection}/{key}": {
			id: "getKey", summary: "Read a value",
			params: append(keyParams, p("IfMatch"), p("IfNoneMatch")),
			responses: obj{
				"200": obj{"description": "The value, as stored.", "headers": obj{"ETag": h("ETag"), "X-Request-ID": h("RequestID")},
					"content": obj{"application/octet-stream": obj{}}},
				"304": obj{"description": "If-None-Match matched: the value is the one the client has.", "headers": obj{"ETag": h("ETag")}},
				"400": r("BadRequest"), "404": r("NotFound"), "412": r("PreconditionFailed"),
				"500": r("Internal"), "503": r("Unavailable"),
			},
			head: &details{summary: "Read a value's headers (ETag, Content-Length)", responses: obj{
				"200": obj{"description": "The key exists; the headers a GET would send.", "headers": obj{"ETag": h("ETag"), "Content-Length": h("ContentLength")}},
				"304": obj{"description": "If-None-Match matched."},
				"400": obj{"description": "The collection, key or a precondition header is malformed."},
				"404": obj{"description": "The key does not exist (or has expired)."},
				"412": obj{"description": "If-Match did not match."},
				"503": obj{"description": "The database is unavailable."},
			}},
		},
		"DELETE /api/v1/{collection}/{key}": {
			id: "deleteKey", summary: "Delete a key",
			params: append(keyParams, p("IfMatch")),
			responses: obj{
				"204": obj{"description": "Deleted.", "headers": obj{"X-Request-ID": h("RequestID")}},
				"400": r("BadRequest"), "404": r("NotFound"), "412": r("PreconditionFailed"),
				"500": r("Internal"), "501": r("NotImplemented"), "503": r("Unavailable"),
			},
		},
		"GET /api/v1/{collection}": {
			id: "listOrWatch", summary: "List a collection, or watch its changes (watch=1)",
			params: []obj{p("Collection"), p("Filter"), p("Limit"), p("Cursor"), p("Watch"), p("Prefix"), p("LastEventID")},
			responses: obj{
				"200": obj{
					"description": "A page of entries (application/json), or with watch=1 the stream of the collection's changes (text/event-stream, " +
						"Server-Sent Events). Each event has an id (resend the last as Last-Event-ID to resume), a name (put, delete, expire or " +
						"resync) and one data line of JSON: put {key, etag, value or value_base64, or value_omitted above watch.max_value_bytes; size}, " +
						"delete and expire {key}, resync {reason}. resync means the stream may have missed changes: list again. An idle stream " +
						"gets a comment line every watch.heartbeat.",
					"headers": obj{"X-Request-ID": h("RequestID")},
					"content": obj{
						"application/json": obj{"schema": s("ListPage")},
						"text/event-stream": obj{
							"schema":          obj{"type": "string"},
							"x-navius-events": obj{"put": s("WatchPut"), "delete": s("WatchKey"), "expire": s("WatchKey"), "resync": s("WatchResync")},
						},
					},
				},
				"400": r("BadRequest"), "500": r("Internal"), "501": r("NotImplemented"), "503": r("Unavailable"),
			},
		},
		"POST /api/v1/_batch": {
			id: "applyBatch", summary: "Apply puts and deletes all or nothing",
			body: obj{"required": true, "content": json(s("BatchRequest"))},
			responses: obj{
				"200": obj{"description": "Every operation was applied; one result per operation, in order.",
					"headers": obj{"X-Request-ID": h("RequestID")}, "content": json(s("BatchResponse"))},
				"400": r("BadRequest"),
				"412": obj{"description": "A precondition failed; nothing was written. error.operation is the index of the operation.",
					"content": json(s("Error"))},
				"413": r("PayloadTooLarge"),
				"422": obj{"description": "The database cannot apply this batch atomically (a Redis Cluster across hash slots); nothing was written.",
					"content": json(s("Error"))},
				"500": r("Internal"), "501": r("NotImplemented"), "503": r("Unavailable"),
			},
		},
		"GET /health": {
			id: "health", summary: "Health, with components for authorized callers",
			responses: obj{
				"200": obj{"description": "UP.", "content": healthContent(s)},
				"503": obj{"description": "A critical indicator is DOWN.", "content": healthContent(s)},
			},
		},
		"GET /livez": {
			id: "livez", summary: "Liveness", params: []obj{p("Verbose")},
			responses: obj{"200": obj{"description": "ok", "content": text}},
		},
		"GET /readyz": {
			id: "readyz", summary: "Readiness", params: []obj{p("Verbose")},
			responses: obj{
				"200": obj{"description": "ok", "content": text},
				"503": obj{"description": "Starting up, shutting down, or a critical indicator failing.", "content": text},
			},
		},
		"GET /info": {
			id: "info", summary: "What this binary is",
			responses: obj{"200": obj{"description": "Version, Go version, VCS revision, build tags, features, active providers and the database's capabilities.",
				"content": json(s("Info"))}},
		},
		"GET /openapi.json": {
			id: "openapi", summary: "This document",
			responses: obj{"200": obj{"description": "The OpenAPI 3.1 description of this server.", "content": json(obj{"type": "object", "required": []string{"openapi", "paths"}})}},
		},
		"GET /metrics": {
			id: "metrics", summary: "Prometheus metrics",
			responses: obj{"200": obj{"description": "The Prometheus text exposition format.", "content": text}},
		},
		"GET /debug/pprof/": {
			id: "pprof", summary: "Profiles (net/http/pprof)",
			responses: obj{"200": obj{"description": "The index of profiles; the profiles are below this path.", "content": obj{"text/html": obj{"schema": obj{"type": "string"}}}}},
		},
	}
}

func healthContent(s func(string) obj) obj {
	return obj{
		"application/json":        obj{"schema": s("Health")},
		"application/health+json": obj{"schema": s("HealthIETF")},
	}
}

// components are the parameters, headers, answers, schemas and the
// security scheme the operations share.
func components() obj {
	str := func(desc string) obj { return obj{"type": "string", "description": desc} }
	s := func(name string) obj { return ref("schemas", name) }
	h := func(name string) obj { return ref("headers", name) }
	errorAnswer := func(desc string, headers obj) obj {
		a := obj{"description": desc, "content": obj{"application/json": obj{"schema": s("Error")}}}
		if headers != nil {
			a["headers"] = headers
		}
		return a
	}
	query := func(name, desc string, schema obj) obj {
		return obj{"name": name, "in": "query", "description": desc, "schema": schema}
	}
	header := func(name, desc string) obj {
		return obj{"name": name, "in": "header", "description": desc, "schema": obj{"type": "string"}}
	}
	const keyChars = `[A-Za-z0-9_.:@~+=-]`
	return obj{
		"securitySchemes": obj{
			"bearer": obj{"type": "http", "scheme": "bearer",
				"description": "A token from the server's auth.tokens or auth.token_hashes; the scopes are read, write, metrics and admin (which grants all). With authentication off, no token is needed."},
		},
		"parameters": obj{
			"Collection": obj{"name": "collection", "in": "path", "required": true,
				"description": "1-64 letters, digits, '_', '.' or '-', starting with a letter or digit.",
				"schema":      obj{"type": "string", "pattern": `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`}},
			"Key": obj{"name": "key", "in": "path", "required": true,
				"description": "1-512 letters, digits or any of _.:@~+=-, not . or ..",
				"schema":      obj{"type": "string", "pattern": "^" + keyChars + "{1,512}$"}},
			"TTL":         query("ttl", "A time to live, as a Go duration (30s, 15m, 24h), up to database.max_ttl. Without it the entry does not expire (and an earlier ttl is cleared).", obj{"type": "string"}),
			"IfMatch":     header("If-Match", `Write or read only if the entry exists with one of these ETags ("a", "b"), or exists at all (*). A weak ETag never matches a write.`),
			"IfNoneMatch": header("If-None-Match", "On a write, * alone: create only, never overwrite. On a read, ETags: 304 when one matches."),
			"Filter":      query("filter", "Only entries whose value contains this text.", obj{"type": "string"}),
			"Limit":       query("limit", "Entries per page.", obj{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
			"Cursor":      query("cursor", "The next_cursor of the previous page.", obj{"type": "string"}),
			"Watch":       query("watch", "Stream the collection's changes as Server-Sent Events instead of listing it.", obj{"type": "string", "enum": []string{"1", "true"}}),
			"Prefix":      query("prefix", "With watch: only keys that start with this.", obj{"type": "string", "pattern": "^" + keyChars + "{0,512}$"}),
			"LastEventID": header("Last-Event-ID", "With watch: the id of the last event received, to resume after it; when this instance no longer holds the events after it, the stream starts with resync."),
			"Verbose":     query("verbose", "Show each check.", obj{"type": "string"}),
		},
		"headers": obj{
			"ETag":            obj{"description": "The entry's version, a strong entity-tag.", "schema": obj{"type": "string", "pattern": `^"[!#-~]{1,64}"$`}},
			"RequestID":       obj{"description": "The request's ID (its own X-Request-ID when it sent a valid one); also in the log.", "schema": obj{"type": "string"}},
			"ContentLength":   obj{"description": "The value's size in bytes.", "schema": obj{"type": "integer"}},
			"RetryAfter":      obj{"description": "Seconds to wait before trying again.", "schema": obj{"type": "string"}},
			"WWWAuthenticate": obj{"description": "The bearer challenge, naming the scope needed.", "schema": obj{"type": "string"}},
		},
		"responses": obj{
			"BadRequest":         errorAnswer("A malformed name, header, parameter or body; the message names the problem and the fix.", nil),
			"Unauthorized":       errorAnswer("Authentication is on and no valid bearer token came.", obj{"WWW-Authenticate": h("WWWAuthenticate")}),
			"Forbidden":          errorAnswer("The token lacks the scope this operation needs.", obj{"WWW-Authenticate": h("WWWAuthenticate")}),
			"NotFound":           errorAnswer("No such key (or it has expired).", nil),
			"PreconditionFailed": errorAnswer("If-Match or If-None-Match did not hold; nothing was written. ETag is the current version when the key exists.", obj{"ETag": h("ETag")}),
			"PayloadTooLarge":    errorAnswer("Above server.max_body_bytes, server.max_batch_operations or server.max_batch_bytes.", nil),
			"NotImplemented":     errorAnswer("The database provider lacks the capability this request needs (conditional, expiry or batch), or watching is off (watch.max_watchers is 0).", nil),
			"Unavailable":        errorAnswer("The database is unavailable, the server is shutting down, or (watch) it already serves watch.max_watchers streams.", obj{"Retry-After": h("RetryAfter")}),
			"Internal":           errorAnswer("An internal error; the message names the request in the server log.", nil),
		},
		"schemas": obj{
			"Error": obj{"type": "object", "required": []string{"error"}, "properties": obj{
				"error": obj{"type": "object", "required": []string{"code", "message"}, "properties": obj{
					"code":       str("A stable, machine-readable code, e.g. not_found, precondition_failed, invalid_ttl."),
					"message":    str("What went wrong and how to fix it, on one line."),
					"request_id": str("The request's X-Request-ID."),
					"operation":  obj{"type": "integer", "description": "In a batch's 412: the index of the operation whose precondition failed."},
				}},
			}},
			"ListItem": obj{"type": "object", "required": []string{"key"}, "properties": obj{
				"key":          str("The key."),
				"etag":         obj{"type": "string", "description": "The entry's ETag."},
				"value":        str("The value, when it is UTF-8 text."),
				"value_base64": obj{"type": "string", "contentEncoding": "base64", "description": "The value, when it is not UTF-8."},
			}},
			"ListPage": obj{"type": "object", "required": []string{"items"}, "properties": obj{
				"items":       obj{"type": "array", "items": s("ListItem")},
				"next_cursor": str("Pass it back as cursor for the next page; absent on the last page."),
			}},
			"BatchOperation": obj{"type": "object", "required": []string{"op", "collection", "key"}, "additionalProperties": false, "properties": obj{
				"op":            obj{"type": "string", "enum": []string{"put", "delete"}},
				"collection":    str("As in the path of a key."),
				"key":           str("As in the path of a key; each key at most once per batch."),
				"value":         str("A put's value as text."),
				"value_base64":  obj{"type": "string", "contentEncoding": "base64", "description": "A put's value as bytes."},
				"if_match":      str("As If-Match: * or ETags; a bare version is read as one ETag."),
				"if_none_match": str("As If-None-Match on a write: *."),
				"ttl":           str("A put's time to live, as ?ttl= takes it."),
			}},
			"BatchRequest": obj{"type": "object", "required": []string{"operations"}, "additionalProperties": false, "properties": obj{
				"operations": obj{"type": "array", "minItems": 1, "items": s("BatchOperation")},
			}},
			"BatchResponse": obj{"type": "object", "required": []string{"results"}, "properties": obj{
				"results": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
					"etag":    obj{"type": "string", "description": "A put's new ETag."},
					"deleted": obj{"type": "boolean", "description": "Whether a delete's key existed."},
				}}},
			}},
			"WatchPut": obj{"type": "object", "required": []string{"key", "size"}, "properties": obj{
				"key":           str("The key written."),
				"etag":          str("Its new ETag."),
				"value":         str("The value, when it is UTF-8 text."),
				"value_base64":  obj{"type": "string", "contentEncoding": "base64"},
				"value_omitted": obj{"type": "boolean", "description": "The value is above watch.max_value_bytes: GET it."},
				"size":          obj{"type": "integer", "description": "The value's size in bytes."},
			}},
			"WatchKey":    obj{"type": "object", "required": []string{"key"}, "properties": obj{"key": str("The key deleted or expired.")}},
			"WatchResync": obj{"type": "object", "required": []string{"reason"}, "properties": obj{"reason": str("Why the stream may have missed changes.")}},
			"Health": obj{"type": "object", "required": []string{"status"}, "properties": obj{
				"status":     obj{"type": "string", "enum": []string{"UP", "DOWN", "OUT_OF_SERVICE", "UNKNOWN"}},
				"components": obj{"type": "object", "description": "Each indicator's status and details (authorized callers only)."},
			}},
			"HealthIETF": obj{"type": "object", "required": []string{"status"}, "properties": obj{
				"status": obj{"type": "string", "enum": []string{"pass", "warn", "fail"}},
				"checks": obj{"type": "object"},
			}},
			"Info": obj{"type": "object", "required": []string{"name", "version", "features", "providers"}, "properties": obj{
				"name":                  str("navius"),
				"version":               str("The build's version."),
				"features":              obj{"type": "array", "items": obj{"type": "string"}},
				"providers":             obj{"type": "object", "additionalProperties": obj{"type": "string"}},
				"database_capabilities": obj{"type": "array", "items": obj{"type": "string"}},
			}},
		},
	}
}
