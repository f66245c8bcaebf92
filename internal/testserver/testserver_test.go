package testserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func post(t *testing.T, url, contentType, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestVictoriaLogsProtocols stores one event through HEC and one through the Elasticsearch
// bulk API, reads them back, restarts the server and reads them again.
func TestVictoriaLogsProtocols(t *testing.T) {
	vl := Start(t)
	marker := fmt.Sprintf("m%d", time.Now().UnixNano())
	now := time.Now()

	status, body := post(t, vl.HECEndpoint()+"/services/collector/event", "application/json",
		fmt.Sprintf(`{"time":%d.25,"host":"h1","sourcetype":"otelsec:process","event":{"message":"hec %s","process_id":42}}`, now.Unix(), marker))
	require.Equal(t, http.StatusOK, status, body)
	status, body = post(t, vl.ElasticsearchEndpoint()+"/_bulk", "application/x-ndjson",
		fmt.Sprintf("{\"create\":{\"_index\":\"logs-otelsec.process-default\"}}\n{\"@timestamp\":%q,\"message\":\"es %s\",\"process\":{\"pid\":43}}\n", now.UTC().Format(time.RFC3339Nano), marker),
		"VL-Time-Field", "@timestamp", "VL-Msg-Field", "message")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"errors":false`)

	rows := vl.Await(t, marker, 2)
	require.Len(t, rows, 2)
	byMsg := map[string]map[string]string{}
	for _, r := range rows {
		byMsg[r["_msg"]] = r
	}
	hec := byMsg["hec "+marker]
	require.NotNil(t, hec, "%v", rows)
	assert.Equal(t, "42", hec["event.process_id"])
	assert.Equal(t, "h1", hec["host"])
	assert.Equal(t, "otelsec:process", hec["sourcetype"])
	assert.Equal(t, now.Truncate(time.Second).Add(250*time.Millisecond).UTC().Format(time.RFC3339Nano), hec["_time"])
	es := byMsg["es "+marker]
	require.NotNil(t, es, "%v", rows)
	assert.Equal(t, "43", es["process.pid"])
	assert.Equal(t, now.UTC().Format(time.RFC3339Nano), es["_time"])

	vl.Stop()
	_, err := http.Get(vl.URL + "/health")
	require.Error(t, err, "stopped")
	vl.Restart()
	assert.Len(t, vl.Query(t, marker), 2, "the store survives a restart")
}

func TestProxyFaults(t *testing.T) {
	vl := Start(t)
	p := NewProxy(t, vl.URL)
	marker := fmt.Sprintf("m%d", time.Now().UnixNano())

	p.SetFault(func(r *Request) *Fault {
		if r.Header.Get("Authorization") != "Splunk good" {
			return HECError(http.StatusForbidden)
		}
		return nil
	})
	status, body := post(t, p.URL+"/services/collector/event", "application/json", `{"event":{"message":"x"}}`, "Authorization", "Splunk bad")
	assert.Equal(t, http.StatusForbidden, status)
	assert.JSONEq(t, `{"text":"Invalid token","code":4}`, body)
	status, _ = post(t, p.URL+"/services/collector/event", "application/json", `{"event":{"message":"`+marker+` hec"}}`, "Authorization", "Splunk good")
	assert.Equal(t, http.StatusOK, status)

	// Bulk: the second of three items fails with 429 and is not stored.
	p.SetFault(func(r *Request) *Fault {
		return &Fault{BulkItem: func(i int, _, _ []byte) (int, string, string) {
			if i == 1 {
				return http.StatusTooManyRequests, "es_rejected_execution_exception", "queue full"
			}
			return 0, "", ""
		}}
	})
	var bulk strings.Builder
	for i := range 3 {
		fmt.Fprintf(&bulk, "{\"create\":{\"_index\":\"logs-x-default\"}}\n{\"message\":\"%s bulk %d\"}\n", marker, i)
	}
	status, body = post(t, p.URL+"/insert/elasticsearch/_bulk", "application/x-ndjson", bulk.String(), "VL-Msg-Field", "message")
	require.Equal(t, http.StatusOK, status, body)
	var resp struct {
		Errors bool
		Items  []map[string]bulkItemResult
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp))
	assert.True(t, resp.Errors)
	require.Len(t, resp.Items, 3)
	assert.Equal(t, 201, resp.Items[0]["create"].Status)
	assert.Equal(t, 429, resp.Items[1]["create"].Status)
	assert.Equal(t, "es_rejected_execution_exception", resp.Items[1]["create"].Error.Type)
	assert.Equal(t, "logs-x-default", resp.Items[1]["create"].Index)

	p.SetFault(func(*Request) *Fault { return &Fault{Drop: true} })
	_, err := http.Post(p.URL+"/x", "text/plain", strings.NewReader("x"))
	require.Error(t, err, "dropped connection")
	p.SetFault(nil)

	rows := vl.Await(t, marker, 3)
	var msgs []string
	for _, r := range rows {
		msgs = append(msgs, r["_msg"])
	}
	assert.ElementsMatch(t, []string{marker + " hec", marker + " bulk 0", marker + " bulk 2"}, msgs)

	reqs := p.Requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, []int{403, 200, 200, 0}, []int{reqs[0].Status, reqs[1].Status, reqs[2].Status, reqs[3].Status})
	assert.True(t, reqs[0].Injected)
	assert.False(t, reqs[1].Injected)
	assert.True(t, reqs[2].Injected, "bulk with failed items")
}
