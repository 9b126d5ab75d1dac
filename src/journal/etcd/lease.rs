//! Leases: granted for a TTL, kept alive, revoked (the keys put under one go with it).

use serde_json::{Value, json};

use super::transport::{Etcd, Result};

impl Etcd {
    /// A new lease of `ttl` seconds; its id.
    pub async fn lease_grant(&mut self, ttl: u64) -> Result<i64> {
        let path = "/v3/lease/grant";
        let answer = self.call(path, &json!({ "TTL": ttl.to_string() })).await?;
        answer
            .get("ID")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| self.bad(path, "no lease ID in the answer".to_string()))
    }

    /// Renew a lease; the seconds it has left (0: it has expired and is gone).
    pub async fn lease_keepalive(&mut self, lease: i64) -> Result<i64> {
        let path = "/v3/lease/keepalive";
        let answer = self.call(path, &json!({ "ID": lease.to_string() })).await?;
        Ok(answer
            .get("result")
            .and_then(|r| r.get("TTL"))
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0))
    }

    /// End a lease now: the keys put under it are deleted.
    pub async fn lease_revoke(&mut self, lease: i64) -> Result<()> {
        self.call("/v3/lease/revoke", &json!({ "ID": lease.to_string() }))
            .await
            .map(|_| ())
    }
}
