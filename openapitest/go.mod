module github.com/navius-dev/navius/openapitest

go 1.26.0

require github.com/navius-dev/navius v0.0.0-00010101000000-000000000000

require (
	github.com/getkin/kin-openapi v0.153.0
	github.com/go-openapi/jsonpointer v0.22.5 // indirect
	github.com/go-openapi/swag/jsonname v0.25.5 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	go.yaml.in/yaml/v4 v4.0.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)

replace github.com/navius-dev/navius => ../
