//! Test helpers for signed requests against moto (feature `testing`): moto enforces
//! authentication after its first unauthenticated requests, which these helpers spend
//! on creating an IAM user allowed `s3:*`.

use sha2::{Digest, Sha256};

use crate::Credentials;

/// A request to `endpoint` signed for `service` (`s3` or `iam`); (status, body).
pub async fn send(
    endpoint: &str,
    method: &str,
    path: &str,
    service: &str,
    creds: &Credentials,
    body: Vec<u8>,
) -> (u16, String) {
    let url = url::Url::parse(&format!("{endpoint}{path}")).expect("a valid test URL");
    let payload = hex::encode(Sha256::digest(&body));
    let headers = crate::sign(
        method,
        &url,
        "us-east-1",
        service,
        creds,
        &crate::now(),
        &payload,
    );
    let mut req = reqwest::Client::new()
        .request(method.parse().expect("an HTTP method"), url)
        .body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if service == "iam" {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let resp = req.send().await.expect("moto answers");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

fn xml_field(body: &str, name: &str) -> String {
    let start = body
        .find(&format!("<{name}>"))
        .unwrap_or_else(|| panic!("no <{name}> in {body}"))
        + name.len()
        + 2;
    let end = body[start..]
        .find(&format!("</{name}>"))
        .expect("a closing tag")
        + start;
    body[start..end].to_owned()
}

/// Creates IAM user `user` allowed `s3:*` and returns its access key. Spends three of
/// moto's unauthenticated requests (start it with INITIAL_NO_AUTH_ACTION_COUNT=3).
pub async fn s3_user(endpoint: &str, user: &str) -> Credentials {
    let anyone = Credentials {
        access_key_id: "AKIASETUPSETUPSETUP0".into(),
        secret_access_key: "setup".into(),
        session_token: None,
    };
    let policy = crate::uri_encode(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        false,
    );
    let mut key = String::new();
    for form in [
        format!("Action=CreateUser&UserName={user}&Version=2010-05-08"),
        format!("Action=CreateAccessKey&UserName={user}&Version=2010-05-08"),
        format!(
            "Action=PutUserPolicy&UserName={user}&PolicyName=s3&PolicyDocument={policy}&Version=2010-05-08"
        ),
    ] {
        let (status, body) = send(endpoint, "POST", "/", "iam", &anyone, form.into_bytes()).await;
        assert_eq!(status, 200, "IAM setup failed: {body}");
        if body.contains("<SecretAccessKey>") {
            key = body;
        }
    }
    Credentials {
        access_key_id: xml_field(&key, "AccessKeyId"),
        secret_access_key: xml_field(&key, "SecretAccessKey"),
        session_token: None,
    }
}
