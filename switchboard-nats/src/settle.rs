//! [`settled`]: wait until the server has processed what this connection sent so far.

use std::time::Duration;

use async_nats::Client;
use futures::StreamExt;
use switchboard_core::{Error, Result};

use crate::error;

/// How long the server may take to echo the marker back.
const WAIT: Duration = Duration::from_secs(5);

/// Returns once the server has processed every command this client sent before the call.
///
/// `Client::flush` only writes the socket; it does not wait for the server. A subscription
/// made just before is then not yet known to the server, and a publisher on another
/// connection can miss it (a request fails with no responders). The server handles one
/// connection's commands in order, so a message to our own inbox that comes back proves the
/// earlier `SUB` was processed.
pub(crate) async fn settled(client: &Client) -> Result<()> {
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(error::unavailable)?;
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .map_err(error::unavailable)?;
    client.flush().await.map_err(error::unavailable)?;
    match tokio::time::timeout(WAIT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::unavailable(
            "nats connection closed while subscribing",
        )),
        Err(_) => Err(Error::Timeout { after: WAIT }),
    }
}
