//! One connection to a broker speaking the Kafka protocol directly, for the few group requests
//! librdkafka cannot send on a member's behalf.

use std::{io, time::Duration};

use bytes::{Buf as _, BufMut as _, BytesMut};
use kafka_protocol::{
    messages::{ApiKey, RequestHeader, ResponseHeader},
    protocol::{Decodable, Encodable, HeaderVersion, StrBytes, encode_request_header_into_buffer},
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

/// Responses larger than this are not ours to read (group descriptions are a few KiB).
const MAX_RESPONSE: usize = 16 << 20;

/// A request/response connection; requests are sent one at a time.
pub(super) struct Wire {
    stream: TcpStream,
    address: String,
    client_id: StrBytes,
    timeout: Duration,
    correlation: i32,
}

impl Wire {
    /// Connects to the first of the comma-separated `brokers` that answers.
    pub(super) async fn connect(
        brokers: &str,
        client_id: &str,
        timeout: Duration,
    ) -> io::Result<Wire> {
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no broker address");
        for address in brokers.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
                Ok(Ok(stream)) => {
                    return Ok(Wire {
                        stream,
                        address: address.to_owned(),
                        client_id: StrBytes::from_string(client_id.to_owned()),
                        timeout,
                        correlation: 0,
                    });
                }
                Ok(Err(err)) => last = err,
                Err(_) => {
                    last =
                        io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {address}"))
                }
            }
        }
        Err(last)
    }

    /// The `host:port` this connection goes to.
    pub(super) fn address(&self) -> &str {
        &self.address
    }

    /// Sends `request` as `key` at `version` and reads its response, within the timeout.
    pub(super) async fn call<Q, R>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Q,
    ) -> io::Result<R>
    where
        Q: Encodable + HeaderVersion,
        R: Decodable + HeaderVersion,
    {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.exchange(key, version, request))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{key:?} took over {timeout:?}"),
                )
            })?
    }

    async fn exchange<Q, R>(&mut self, key: ApiKey, version: i16, request: &Q) -> io::Result<R>
    where
        Q: Encodable + HeaderVersion,
        R: Decodable + HeaderVersion,
    {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut frame = BytesMut::new();
        frame.put_i32(0); // the length, filled in below
        encode_request_header_into_buffer(&mut frame, &header).map_err(protocol)?;
        request.encode(&mut frame, version).map_err(protocol)?;
        let length = i32::try_from(frame.len() - 4).map_err(|_| protocol("request too large"))?;
        frame[..4].copy_from_slice(&length.to_be_bytes());
        self.stream.write_all(&frame).await?;

        let length = usize::try_from(self.stream.read_i32().await?)
            .map_err(|_| protocol("negative response length"))?;
        if length > MAX_RESPONSE {
            return Err(protocol(format!("a {length}-byte response")));
        }
        let mut body = BytesMut::zeroed(length);
        self.stream.read_exact(&mut body).await?;
        let mut body = body.freeze();
        let header =
            ResponseHeader::decode(&mut body, R::header_version(version)).map_err(protocol)?;
        if header.correlation_id != self.correlation {
            return Err(protocol(format!(
                "response {} to request {}",
                header.correlation_id, self.correlation
            )));
        }
        let response = R::decode(&mut body, version).map_err(protocol)?;
        if body.has_remaining() {
            tracing::debug!(
                ?key,
                left = body.remaining(),
                "response longer than its schema"
            );
        }
        Ok(response)
    }
}

fn protocol(err: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err.to_string())
}
