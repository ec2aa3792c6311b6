//! A bare HTTP/1.1 keep-alive connection: one per simulated client, so that the generator costs
//! as little CPU as possible and `--connections` means exactly that many TCP connections.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::LoadError;

/// Where to send requests: `http://host:port` plus an optional path prefix.
#[derive(Debug, Clone)]
pub struct Target {
    authority: String,
    prefix: String,
}

impl Target {
    /// Parses `http://host:port[/prefix]`; only plain HTTP is supported.
    pub fn parse(url: &str) -> Result<Self, LoadError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| LoadError::Usage(format!("{url}: only http:// URLs are supported")))?;
        let (authority, prefix) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        Ok(Self {
            authority: authority.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// Opens one connection to the target.
    pub async fn connect(&self) -> Result<Connection, LoadError> {
        let stream = TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes; errors surface on send.
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            authority: self.authority.clone(),
            prefix: self.prefix.clone(),
        })
    }
}

/// One keep-alive connection.
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    prefix: String,
}

/// A request body with its media type and optional extra header.
#[derive(Debug, Clone)]
pub struct Payload {
    pub content_type: &'static str,
    pub header: Option<(&'static str, &'static str)>,
    pub body: Bytes,
}

impl Connection {
    /// Sends one request and reads the whole answer: status and body.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        payload: Option<&Payload>,
    ) -> Result<(u16, Bytes), LoadError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.prefix))
            .header(HOST, &self.authority);
        let body = match payload {
            Some(payload) => {
                request = request.header(CONTENT_TYPE, payload.content_type);
                if let Some((name, value)) = payload.header {
                    request = request.header(name, value);
                }
                payload.body.clone()
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(body))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// POSTs a payload.
    pub async fn post(&mut self, path: &str, payload: &Payload) -> Result<(u16, Bytes), LoadError> {
        self.send(Method::POST, path, Some(payload)).await
    }

    /// GETs a path with its query string.
    pub async fn get(&mut self, path_and_query: &str) -> Result<(u16, Bytes), LoadError> {
        self.send(Method::GET, path_and_query, None).await
    }
}
