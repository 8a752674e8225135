//! Request building and answer parsing without a server, and the real HTTP
//! path against a local mock that answers with Milvus' shapes.
//!
//! REST v2 shapes come from milvus-io/milvus
//! `internal/distributed/proxy/httpserver/handler_v2.go` and
//! `handler_v2_test.go` at v2.5.27 (c8e90858d5e3ed45ae6916c7e6b5fe109dac4e49)
//! and v2.4.13 (523a3a05265a8668754fdda6cbf653d0e037f472); REST v1 shapes
//! from `handler_v1.go` / `handler_v1_test.go` at v2.3.5
//! (9aceff5a6e34eefc747cfbce07dde7d2f7db859e) and from the Milvus 2.3.5
//! run by tests/services.

use super::*;
use crate::sink::encode::PrimaryKey;
use crate::sink::error::AfterFew;
use crate::sink::mock::{MockServer, Recorded};
use crate::sink::schema::FieldSchema;
use crate::transform::{Field, Value};

const TOKEN: &str = "root:S3cr3t-Pw";

fn config(extra: &str) -> SinkConfig {
    toml::from_str(&format!(
        "endpoint = \"http://127.0.0.1:9/\"\ncollection = \"c\"\n{extra}"
    ))
    .unwrap()
}

fn endpoint(extra: &str) -> Endpoint {
    let c = config(extra);
    let token = c.token.clone();
    Endpoint::new(&c, token).unwrap()
}

fn header<'a>(r: &'a reqwest::Request, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

fn body(r: &reqwest::Request) -> serde_json::Value {
    serde_json::from_slice(r.body().unwrap().as_bytes().unwrap()).unwrap()
}

// ------------------------------------------------------------ request builder

#[test]
fn v2_describe_request() {
    let e = endpoint(&format!(
        "token = \"{TOKEN}\"\ndatabase = \"db1\"\nrequest_timeout_ms = 2500"
    ));
    let r = e.describe_request(RestApi::V2, "c").unwrap();
    assert_eq!(r.method(), reqwest::Method::POST);
    assert_eq!(
        r.url().as_str(),
        "http://127.0.0.1:9/v2/vectordb/collections/describe"
    );
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    assert_eq!(header(&r, "accept-type-allow-int64"), Some("true"));
    assert_eq!(
        header(&r, "authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    // Request-Timeout is whole seconds (timeout_middleware.go).
    assert_eq!(header(&r, "request-timeout"), Some("3"));
    // CollectionNameReq: dbName, collectionName (request_v2.go).
    assert_eq!(
        body(&r),
        serde_json::json!({"collectionName": "c", "dbName": "db1"})
    );
    // http marks the Authorization value sensitive: Debug hides it.
    assert!(!format!("{r:?}").contains("S3cr3t"));
}

#[test]
fn v1_describe_request_uses_the_query_string() {
    let e = endpoint("database = \"my db\"");
    let r = e.describe_request(RestApi::V1, "a&b").unwrap();
    assert_eq!(r.method(), reqwest::Method::GET);
    assert_eq!(
        r.url().as_str(),
        "http://127.0.0.1:9/v1/vector/collections/describe?collectionName=a%26b&dbName=my+db"
    );
    assert_eq!(header(&r, "authorization"), None);
    assert_eq!(header(&r, "request-timeout"), None);
    assert_eq!(header(&r, "accept-type-allow-int64"), Some("true"));
}

#[test]
fn list_requests() {
    let e = endpoint("database = \"db1\"");
    let r = e.list_request(RestApi::V2).unwrap();
    assert_eq!(r.url().path(), "/v2/vectordb/collections/list");
    assert_eq!(body(&r), serde_json::json!({"dbName": "db1"}));
    let r = e.list_request(RestApi::V1).unwrap();
    assert_eq!(
        r.url().as_str(),
        "http://127.0.0.1:9/v1/vector/collections?dbName=db1"
    );
}

#[test]
fn write_request_paths_and_body() {
    let e = endpoint(&format!("token = \"{TOKEN}\""));
    let payload = Bytes::from_static(br#"{"collectionName":"c","data":[{"id":1}]}"#);
    let cases = [
        (RestApi::V2, WriteOp::Insert, "/v2/vectordb/entities/insert"),
        (RestApi::V2, WriteOp::Upsert, "/v2/vectordb/entities/upsert"),
        (RestApi::V1, WriteOp::Insert, "/v1/vector/insert"),
        (RestApi::V1, WriteOp::Upsert, "/v1/vector/upsert"),
    ];
    for (api, op, path) in cases {
        let r = e.write_request(api, op, payload.clone()).unwrap();
        assert_eq!(r.method(), reqwest::Method::POST);
        assert_eq!(r.url().path(), path);
        assert_eq!(r.body().unwrap().as_bytes().unwrap(), &payload[..]);
        assert_eq!(header(&r, "accept-type-allow-int64"), Some("true"));
        assert_eq!(
            header(&r, "request-timeout").is_some(),
            api == RestApi::V2,
            "{api}"
        );
    }
}

// ------------------------------------------------------------------- schema

fn pk_schema(auto_id: bool) -> CollectionSchema {
    CollectionSchema {
        name: "c".into(),
        fields: vec![
            FieldSchema {
                name: "id".into(),
                data_type: DataType::Int64,
                primary: true,
                auto_id,
                nullable: false,
                has_default: false,
                function_output: false,
            },
            FieldSchema {
                name: "v".into(),
                data_type: DataType::FloatVector { dim: 2 },
                primary: false,
                auto_id: false,
                nullable: false,
                has_default: false,
                function_output: false,
            },
        ],
        primary: "id".into(),
        auto_id,
        dynamic: false,
        allow_insert_auto_id: false,
        loaded: Some(true),
    }
}

fn sink(api: RestApi, op_mode: &str, auto_id: bool) -> Result<MilvusSink, SinkError> {
    let extra = format!("write_mode = \"{op_mode}\"\ntoken = \"{TOKEN}\"");
    let c = config(&extra);
    let e = Endpoint::new(&c, c.token.clone()).unwrap();
    MilvusSink::from_parts(&c, e, api, pk_schema(auto_id))
}

#[test]
fn write_mode_follows_auto_id() {
    let op = |mode, auto_id| sink(RestApi::V2, mode, auto_id).map(|s| s.write_op());
    assert_eq!(op("auto", false).unwrap(), WriteOp::Upsert);
    assert_eq!(op("auto", true).unwrap(), WriteOp::Insert);
    assert_eq!(op("insert", false).unwrap(), WriteOp::Insert);
    assert_eq!(op("insert", true).unwrap(), WriteOp::Insert);
    assert_eq!(op("upsert", false).unwrap(), WriteOp::Upsert);
    assert_eq!(
        op("upsert", true).unwrap_err().to_string(),
        "sink.write_mode = \"upsert\" needs rows that carry the primary key, but collection `c` has auto-id on `id`; use write_mode = \"insert\" or \"auto\""
    );
}

#[test]
fn not_loaded_connects_and_v1_limits_stop_at_connect() {
    let c = config("");
    let mut s = pk_schema(false);
    s.loaded = Some(false);
    let e = Endpoint::new(&c, None).unwrap();
    let sink = MilvusSink::from_parts(&c, e, RestApi::V2, s).unwrap();
    assert_eq!(sink.schema().loaded, Some(false));

    let mut s = pk_schema(false);
    s.fields.push(FieldSchema {
        name: "meta".into(),
        data_type: DataType::Json,
        ..s.fields[1].clone()
    });
    let e = Endpoint::new(&c, None).unwrap();
    let err = MilvusSink::from_parts(&c, e, RestApi::V1, s.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "collection `c` has field `meta` (JSON), which Milvus 2.3's REST v1 cannot insert (it answers code 1100/1804); write to Milvus 2.4+ (REST v2) or drop those fields"
    );
    let e = Endpoint::new(&c, None).unwrap();
    assert!(MilvusSink::from_parts(&c, e, RestApi::V2, s).is_ok());
}

// ----------------------------------------------------------- write answers

fn answer(s: &MilvusSink, status: u16, body: &str, rows: usize) -> Result<WriteOk, WriteError> {
    s.write_answer(status, body.as_bytes(), rows, None)
}

#[test]
fn v2_write_success_shapes() {
    // handler_v2.go insert: gin.H{"code":0,"cost":cost,"data":{"insertCount":n,"insertIds":[...]}};
    // Int64 ids are numbers with Accept-Type-Allow-Int64: true, strings without.
    let s = sink(RestApi::V2, "insert", false).unwrap();
    let ok = answer(
        &s,
        200,
        r#"{"code":0,"cost":0,"data":{"insertCount":2,"insertIds":[1,2]}}"#,
        2,
    )
    .unwrap();
    assert_eq!(ok.rows, 2);
    assert_eq!(ok.ids, vec![PrimaryKey::Int(1), PrimaryKey::Int(2)]);
    let ok = answer(
        &s,
        200,
        r#"{"code":0,"cost":0,"data":{"insertCount":2,"insertIds":["448707763883002014","2"]}}"#,
        2,
    )
    .unwrap();
    assert_eq!(ok.ids[0], PrimaryKey::Int(448707763883002014));
    let s = sink(RestApi::V2, "upsert", false).unwrap();
    let ok = answer(
        &s,
        200,
        r#"{"code":0,"cost":0,"data":{"upsertCount":1,"upsertIds":[9999999999999999]}}"#,
        1,
    )
    .unwrap();
    assert_eq!(ok.ids, vec![PrimaryKey::Int(9999999999999999)]);
    // v2 success is code 0; code 200 is a v1 answer and not success here.
    assert!(
        answer(
            &s,
            200,
            r#"{"code":200,"data":{"upsertCount":1,"upsertIds":[1]}}"#,
            1
        )
        .is_err()
    );
}

#[test]
fn v1_write_success_shapes() {
    // handler_v1_test.go: {"code":200,"data":{"insertCount":3,"insertIds":["1","2","3"]}}.
    let s = sink(RestApi::V1, "insert", false).unwrap();
    let ok = answer(
        &s,
        200,
        r#"{"code":200,"data":{"insertCount":3,"insertIds":["1","2","3"]}}"#,
        3,
    )
    .unwrap();
    assert_eq!(ok.ids.len(), 3);
    let s = sink(RestApi::V1, "upsert", false).unwrap();
    // Seen on 2.3.5: an upsert of one key twice in one body.
    let ok = answer(
        &s,
        200,
        r#"{"code":200,"data":{"upsertCount":2,"upsertIds":[1,1]}}"#,
        2,
    )
    .unwrap();
    assert_eq!(ok.rows, 2);
}

#[test]
fn count_mismatch_is_fatal() {
    let s = sink(RestApi::V2, "insert", false).unwrap();
    let err = answer(
        &s,
        200,
        r#"{"code":0,"cost":0,"data":{"insertCount":2,"insertIds":[1,2]}}"#,
        3,
    )
    .unwrap_err();
    assert_eq!(
        err,
        WriteError::Fatal {
            reason:
                "Milvus wrote 2 of 3 rows sent to collection `c`; stopping rather than losing rows"
                    .into()
        }
    );
    let err = answer(&s, 200, r#"{"code":0,"cost":0,"data":{}}"#, 3).unwrap_err();
    assert!(err.to_string().contains("without `data.insertCount`"));
}

#[test]
fn write_failures_are_classified() {
    let s = sink(RestApi::V2, "upsert", false).unwrap();
    let class = |status, body: &str| answer(&s, status, body, 1).unwrap_err();
    // Row conversion (handler_v2.go insert/upsert): HTTP 200, code 1804.
    let e = class(
        200,
        r#"{"code":1804,"message":"fail to deal the insert data, error: []float32 size 3 doesn't equal to vector dimension 8 of FloatVector"}"#,
    );
    assert_eq!(
        e,
        WriteError::Rejected {
            code: 1804,
            message: "fail to deal the insert data, error: []float32 size 3 doesn't equal to vector dimension 8 of FloatVector".into()
        }
    );
    // Proxy validation (validate_util.go): 1100.
    let e = class(
        200,
        r#"{"code":1100,"message":"length of varchar field name exceeds max length, row number: 0, length: 20, max length: 10: invalid parameter"}"#,
    );
    assert_eq!(e.class(), FailureClass::Rejected);
    // Binding errors (handler_v2_test.go TestHTTPWrapper): 1801, 1802.
    let e = class(
        200,
        r#"{"code":1801,"message":"can only accept json format request, error: invalid character '}' after object key"}"#,
    );
    assert_eq!(e.class(), FailureClass::Rejected);
    // REST limiter and rate limits: retry.
    let e = class(
        200,
        r#"{"code":1807,"message":"request is rejected by limiter, error: rate limit exceeded"}"#,
    );
    assert_eq!(e.class(), FailureClass::Retryable);
    assert!(
        e.to_string()
            .contains("HTTP 200, code 1807: request is rejected")
    );
    assert_eq!(
        class(200, r#"{"code":8,"message":"rate limit exceeded"}"#).class(),
        FailureClass::Retryable
    );
    // timeout_middleware.go: 408 with text (2.4.13, 2.5.0) or JSON 10001 (2.5.4+).
    assert_eq!(class(408, "timeout").class(), FailureClass::Retryable);
    assert_eq!(
        class(408, r#"{"code":10001,"message":"request timeout"}"#).class(),
        FailureClass::Retryable
    );
    assert_eq!(class(429, "").class(), FailureClass::Retryable);
    // Auth and a vanished collection stop the pipeline.
    let e = class(
        401,
        r#"{"code":1800,"message":"user hasn't authenticated"}"#,
    );
    assert_eq!(
        e.to_string(),
        "Milvus at http://127.0.0.1:9 refused the token (check sink.token): HTTP 401, code 1800: user hasn't authenticated"
    );
    let e = class(
        200,
        r#"{"code":100,"message":"can't find collection[database=default][collection=c]"}"#,
    );
    assert!(
        e.to_string()
            .starts_with("collection `c` no longer exists at http://127.0.0.1:9")
    );
    // 65535: a few attempts, then fatal (tested in sink::write::tests).
    assert_eq!(
        class(200, r#"{"code":65535,"message":"unexpected"}"#).class(),
        FailureClass::RetryThenStop
    );
    assert_eq!(
        class(404, "404 page not found").class(),
        FailureClass::Fatal
    );
}

/// Answers retried a few times before they become a rejection or a stop.
#[test]
fn answers_retried_only_a_few_times() {
    let s = sink(RestApi::V2, "upsert", false).unwrap();
    let class = |status, body: &str| answer(&s, status, body, 1).unwrap_err();
    // A handler panic: HTTP 500 {"code":500} (v2.5.27 H/timeout_middleware.go:194).
    assert_eq!(
        class(500, r#"{"code":500}"#).class(),
        FailureClass::RetryThenHalve
    );
    // Any non-merr error (v2.5.27 pkg/util/merr/utils.go:37-56).
    assert_eq!(
        class(200, r#"{"code":65535,"message":"append to wal failed"}"#).class(),
        FailureClass::RetryThenStop
    );
}

#[test]
fn retry_after_is_passed_on() {
    let s = sink(RestApi::V2, "upsert", false).unwrap();
    let e = s
        .write_answer(429, b"", 1, Some(Duration::from_secs(2)))
        .unwrap_err();
    assert_eq!(
        e,
        WriteError::Retryable {
            reason: "Milvus is busy or unavailable: HTTP 429, code -: (no message)".into(),
            retry_after: Some(Duration::from_secs(2)),
            after_few: None,
        }
    );
}

// --------------------------------------------------------- describe answers

#[test]
fn describe_answers() {
    let e = endpoint("");
    // Docs example of REST v2 describe; note code 0 with a non-empty message.
    let v2 = r#"{"code":0,"data":{"aliases":[],"autoId":false,"collectionID":448707763883002014,"collectionName":"c","consistencyLevel":"Bounded","description":"","enableDynamicField":true,"fields":[{"autoId":false,"description":"","id":100,"name":"id","partitionKey":false,"primaryKey":true,"type":"Int64"},{"autoId":false,"description":"","id":101,"name":"vector","params":[{"key":"dim","value":"5"}],"partitionKey":false,"primaryKey":false,"type":"FloatVector"}],"indexes":[{"fieldName":"vector","indexName":"vector","metricType":"COSINE"}],"load":"LoadStateLoaded","partitionsNum":1,"properties":[],"shardsNum":1},"message":"list aliases: something"}"#;
    let s = e
        .describe_answer(RestApi::V2, "c", 200, v2.as_bytes())
        .unwrap();
    assert_eq!(s.fields[1].data_type, DataType::FloatVector { dim: 5 });
    // A v1 success code is not a v2 success.
    assert!(
        e.describe_answer(RestApi::V2, "c", 200, br#"{"code":200,"data":{}}"#)
            .is_err()
    );
}

#[test]
fn describe_refusals_say_what_to_fix() {
    let e = endpoint("");
    let err = e
        .describe_answer(
            RestApi::V2,
            "foo",
            200,
            br#"{"code":100,"message":"can't find collection[database=default][collection=foo]"}"#,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "collection `foo` does not exist in database `default` at http://127.0.0.1:9; create it first"
    );
    let err = e
        .describe_answer(
            RestApi::V1,
            "c",
            200,
            br#"{"code":800,"message":"database not found, database: nodb"}"#,
        )
        .unwrap_err();
    assert!(matches!(err, SinkError::DatabaseNotFound { .. }));
    let err = e
        .describe_answer(
            RestApi::V2,
            "c",
            401,
            br#"{"code":1800,"message":"user hasn't authenticated"}"#,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Milvus at http://127.0.0.1:9 refused the token (check sink.token): HTTP 401, code 1800: user hasn't authenticated"
    );
    let err = e
        .describe_answer(
            RestApi::V2,
            "c",
            403,
            br#"{"code":1401,"message":"privilege not permitted"}"#,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("denied access to collection `c` (HTTP 403, code 1401)")
    );
    let err = e
        .describe_answer(RestApi::V2, "c", 404, b"404 page not found")
        .unwrap_err();
    assert!(matches!(
        err,
        SinkError::ApiNotFound {
            api: RestApi::V2,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "http://127.0.0.1:9 does not answer REST v2 (HTTP 404 for /v2/vectordb/collections/describe); Milvus 2.3 speaks only REST v1: set sink.api = \"v1\" or \"auto\""
    );
    let err = e
        .describe_answer(
            RestApi::V2,
            "c",
            200,
            br#"{"code":1802,"message":"missing required parameters, error: Key: 'CollectionNameReq.CollectionName' Error:Field validation for 'CollectionName' failed on the 'required' tag"}"#,
        )
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "Milvus at http://127.0.0.1:9 failed to describe collection `c` over REST v2 (HTTP 200, code 1802): missing required parameters"
        ),
        "{err}"
    );
}

// ------------------------------------------------------------- the token

#[test]
fn token_expansion() {
    let env = |name: &str| match name {
        "KMV_TOKEN" => Some(TOKEN.to_string()),
        "PW" => Some("S3cr3t-Pw".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    };
    let t = |s: &str| expand_token(&Secret::new(s), env);
    assert_eq!(t("${KMV_TOKEN}").unwrap().expose(), TOKEN);
    assert_eq!(t("root:${PW}").unwrap().expose(), TOKEN);
    assert_eq!(t("plain").unwrap().expose(), "plain");
    assert_eq!(
        t("${NOPE_TOKEN}").unwrap_err().to_string(),
        "sink.token names the environment variable `NOPE_TOKEN`, which is not set"
    );
    assert_eq!(
        t("${EMPTY}").unwrap_err().to_string(),
        "sink.token names the environment variable `EMPTY`, which is empty"
    );
    assert!(
        t("${PW")
            .unwrap_err()
            .to_string()
            .starts_with("sink.token: `${` without a closing `}`")
    );
    assert!(t("${1x}").is_err());
    assert!(t("").is_err());
}

#[test]
fn credentials_in_the_endpoint_are_refused_without_echoing_them() {
    let c: SinkConfig =
        toml::from_str("endpoint = \"https://root:S3cr3t-Pw@milvus.example\"\ncollection = \"c\"")
            .unwrap();
    let err = Endpoint::new(&c, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "sink.endpoint `https://milvus.example`: holds credentials; put them in sink.token instead"
    );
}

#[test]
fn the_token_never_shows() {
    let c = config(&format!("token = \"{TOKEN}\""));
    assert!(!format!("{c:?}").contains("S3cr3t"), "{c:?}");
    assert!(format!("{c:?}").contains("Secret(<redacted>)"));
    let s = sink(RestApi::V2, "auto", false).unwrap();
    assert!(!format!("{s:?}").contains("S3cr3t"), "{s:?}");
    // A server that echoes the token (or its password) gets it scrubbed.
    let echo = format!(r#"{{"code":1800,"message":"bad token {TOKEN} / S3cr3t-Pw"}}"#);
    let err = s.write_answer(401, echo.as_bytes(), 1, None).unwrap_err();
    assert!(!err.to_string().contains("S3cr3t"), "{err}");
    assert!(!format!("{err:?}").contains("S3cr3t"));
    let e = Endpoint::new(&c, c.token.clone()).unwrap();
    let err = e
        .describe_answer(RestApi::V2, "c", 401, echo.as_bytes())
        .unwrap_err();
    assert!(!err.to_string().contains("S3cr3t"), "{err}");
    assert!(!format!("{err:?}").contains("S3cr3t"));
    let err = expand_token(&Secret::new("${KMV_NO_SUCH_VAR}"), |_| None).unwrap_err();
    assert!(!format!("{err:?} {err}").contains("S3cr3t"));
}

// ----------------------------------------------- the HTTP path, against a mock

const V2_DESCRIBE: &str = r#"{"code":0,"data":{"aliases":[],"autoId":false,"collectionID":448707763883002014,"collectionName":"c","consistencyLevel":"Bounded","description":"","enableDynamicField":false,"fields":[{"autoId":false,"description":"","id":100,"name":"id","partitionKey":false,"primaryKey":true,"type":"Int64"},{"autoId":false,"description":"","id":101,"name":"v","params":[{"key":"dim","value":"2"}],"partitionKey":false,"primaryKey":false,"type":"FloatVector"}],"indexes":[],"load":"LoadStateLoaded","partitionsNum":1,"properties":[],"shardsNum":1},"message":"describe index: index not found[indexName=]"}"#;

const V1_DESCRIBE: &str = r#"{"code":200,"data":{"collectionName":"c","description":"","enableDynamicField":false,"fields":[{"autoId":false,"description":"","name":"id","primaryKey":true,"type":"Int64"},{"autoId":false,"description":"","name":"v","primaryKey":false,"type":"FloatVector(2)"}],"indexes":[{"fieldName":"v","indexName":"v","metricType":"L2"}],"load":"LoadStateLoaded","shardsNum":1}}"#;

fn mock_config(server: &MockServer, extra: &str) -> SinkConfig {
    let timeout = if extra.contains("request_timeout_ms") {
        ""
    } else {
        "request_timeout_ms = 2000"
    };
    toml::from_str(&format!(
        "endpoint = \"{}\"\ncollection = \"c\"\n{timeout}\n{extra}",
        server.url
    ))
    .unwrap()
}

fn rows(sink: &MilvusSink, ids: &[i64]) -> BatchBody {
    let mut b = sink.batch_builder::<i64>();
    for &id in ids {
        let row = vec![
            Field {
                name: "id".into(),
                value: Value::Int64(id),
            },
            Field {
                name: "v".into(),
                value: Value::FloatVector(vec![0.5, 1.0]),
            },
        ];
        b.push(sink.encoder().encode(&row).unwrap(), id).unwrap();
    }
    b.take().unwrap().body
}

/// A v2 server: describe, then upsert; what goes over the wire.
#[tokio::test]
async fn v2_over_http() {
    let server = MockServer::start(|r: &Recorded| match r.target.as_str() {
        "/v2/vectordb/collections/describe" => (200, V2_DESCRIBE.into()),
        "/v2/vectordb/entities/upsert" => (
            200,
            r#"{"code":0,"cost":0,"data":{"upsertCount":2,"upsertIds":[1,2]}}"#.into(),
        ),
        _ => (404, "404 page not found".into()),
    });
    let c = mock_config(&server, &format!("token = \"{TOKEN}\"\ndatabase = \"db1\""));
    let sink = MilvusSink::connect(&c).await.unwrap();
    assert_eq!(sink.api(), RestApi::V2);
    assert_eq!(sink.write_op(), WriteOp::Upsert);
    let ok = sink.write(&rows(&sink, &[1, 2])).await.unwrap();
    assert_eq!(ok.ids, vec![PrimaryKey::Int(1), PrimaryKey::Int(2)]);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(
        reqs[0].json(),
        serde_json::json!({"collectionName": "c", "dbName": "db1"})
    );
    let w = &reqs[1];
    assert_eq!(w.target, "/v2/vectordb/entities/upsert");
    assert_eq!(
        w.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(w.header("accept-type-allow-int64"), Some("true"));
    assert_eq!(w.header("content-type"), Some("application/json"));
    assert_eq!(w.header("request-timeout"), Some("2"));
    assert_eq!(
        std::str::from_utf8(&w.body).unwrap(),
        r#"{"collectionName":"c","dbName":"db1","data":[{"id":1,"v":[0.5,1.0]},{"id":2,"v":[0.5,1.0]}]}"#
    );
}

/// Milvus 2.3 answers 404 to every /v2 path: `auto` falls back to v1.
#[tokio::test]
async fn auto_falls_back_to_v1_on_404() {
    let server = MockServer::start(|r: &Recorded| {
        if r.target.starts_with("/v1/vector/collections/describe?") {
            (200, V1_DESCRIBE.into())
        } else if r.target == "/v1/vector/upsert" {
            (
                200,
                r#"{"code":200,"data":{"upsertCount":1,"upsertIds":["7"]}}"#.into(),
            )
        } else {
            (404, "404 page not found".into())
        }
    });
    let sink = MilvusSink::connect(&mock_config(&server, ""))
        .await
        .unwrap();
    assert_eq!(sink.api(), RestApi::V1);
    let ok = sink.write(&rows(&sink, &[7])).await.unwrap();
    assert_eq!(ok.ids, vec![PrimaryKey::Int(7)]);
    let targets: Vec<_> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        targets,
        vec![
            "POST /v2/vectordb/collections/describe",
            "GET /v1/vector/collections/describe?collectionName=c",
            "POST /v1/vector/upsert",
        ]
    );
    // api = "v2" on such a server: a clear error, no fallback.
    let err = MilvusSink::connect(&mock_config(&server, "api = \"v2\""))
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::ApiNotFound { .. }), "{err}");
}

#[tokio::test]
async fn auth_failure_at_connect() {
    let server = MockServer::start(|_: &Recorded| {
        (
            401,
            r#"{"code":1800,"message":"user hasn't authenticated"}"#.into(),
        )
    });
    let err = MilvusSink::connect(&mock_config(&server, &format!("token = \"{TOKEN}\"")))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("refused the token (check sink.token)"),
        "{text}"
    );
    assert!(!text.contains("S3cr3t") && !format!("{err:?}").contains("S3cr3t"));
    // One request: no fallback to v1 after a 401.
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn missing_collection_lists_what_exists() {
    let server = MockServer::start(|r: &Recorded| match r.target.as_str() {
        "/v2/vectordb/collections/describe" => (
            200,
            r#"{"code":100,"message":"can't find collection[database=default][collection=c]"}"#
                .into(),
        ),
        "/v2/vectordb/collections/list" => (200, r#"{"code":0,"data":["zeta","alpha"]}"#.into()),
        _ => (404, "404 page not found".into()),
    });
    let err = MilvusSink::connect(&mock_config(&server, ""))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "collection `c` does not exist in database `default` at {} (it has: `alpha`, `zeta`); create it first",
            server.url
        )
    );
}

#[tokio::test]
async fn write_outcomes_over_http() {
    let server = MockServer::start(|r: &Recorded| {
        match r.target.as_str() {
        "/v2/vectordb/collections/describe" => (200, V2_DESCRIBE.into()),
        _ => match r.json()["data"][0]["id"].as_i64() {
            Some(1) => (
                200,
                r#"{"code":1807,"message":"request is rejected by limiter, error: rate limit exceeded"}"#.into(),
            ),
            Some(2) => (
                200,
                r#"{"code":1804,"message":"fail to deal the insert data, error: bad"}"#.into(),
            ),
            Some(3) => (503, "upstream unavailable".into()),
            Some(4) => {
                std::thread::sleep(Duration::from_millis(1500));
                (200, "{}".into())
            }
            _ => (401, r#"{"code":1800,"message":"user hasn't authenticated"}"#.into()),
        },
    }
    });
    let sink = MilvusSink::connect(&mock_config(&server, "request_timeout_ms = 300"))
        .await
        .unwrap();
    let class = |r: Result<WriteOk, WriteError>| r.unwrap_err().class();
    assert_eq!(
        class(sink.write(&rows(&sink, &[1])).await),
        FailureClass::Retryable
    );
    assert_eq!(
        class(sink.write(&rows(&sink, &[2])).await),
        FailureClass::Rejected
    );
    assert_eq!(
        class(sink.write(&rows(&sink, &[3])).await),
        FailureClass::Retryable
    );
    let timeout = sink.write(&rows(&sink, &[4])).await.unwrap_err();
    assert_eq!(timeout.class(), FailureClass::Retryable);
    assert!(
        matches!(
            timeout,
            WriteError::Retryable {
                after_few: Some(AfterFew::HalveTimeout { code: 408 }),
                ..
            }
        ),
        "{timeout:?}"
    );
    assert!(
        timeout
            .to_string()
            .contains("timed out (sink.request_timeout_ms)"),
        "{timeout}"
    );
    assert_eq!(
        class(sink.write(&rows(&sink, &[5])).await),
        FailureClass::Fatal
    );
    assert!(sink.retry_policy().should_retry(&WriteError::Retryable {
        reason: String::new(),
        retry_after: None,
        after_few: None,
    }));
}

#[tokio::test]
async fn unreachable_endpoint_is_named() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c: SinkConfig = toml::from_str(&format!(
        "endpoint = \"http://127.0.0.1:{port}\"\ncollection = \"c\"\nrequest_timeout_ms = 2000"
    ))
    .unwrap();
    let err = MilvusSink::connect(&c).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach Milvus at http://127.0.0.1:{port}: ")),
        "{err}"
    );
    assert!(matches!(err, SinkError::Unreachable { .. }));
}

/// An error chain (`{:#}`, as the CLI prints it) says the schema problem once.
#[test]
fn a_schema_error_is_said_once() {
    let body =
        br#"{"code":0,"data":{"collectionName":"c","autoId":false,"enableDynamicField":false,
        "fields":[{"name":"id","type":"Int64","primaryKey":true},{"name":"t","type":"Text"}],
        "load":"LoadStateLoaded"},"message":""}"#;
    let err = endpoint("")
        .describe_answer(RestApi::V2, "c", 200, body)
        .unwrap_err();
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(chain.matches("cannot write").count(), 1, "{chain}");
    assert!(
        chain.starts_with(
            "collection `c` at http://127.0.0.1:9: kmv-host cannot write field `t` (Text)"
        ),
        "{chain}"
    );
}
