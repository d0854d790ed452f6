//! A TCP proxy in front of PostgreSQL that counts round trips: each time a client sends
//! after the server last spoke is one turn (a client that sends several messages before
//! reading, as sqlx does with Parse/Bind/Execute/Sync, makes one turn). Used by tests and
//! benchmarks that assert or report how many round trips an operation takes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; it serves until the runtime ends.
pub struct Proxy {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    turns: Arc<AtomicU64>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 (a random port) to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let turns = Arc::new(AtomicU64::new(0));
        let counter = turns.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, counter).await;
                    }
                });
            }
        });
        Ok(Proxy { addr, turns })
    }

    /// Starts a proxy to the server of a `postgres://` URL.
    pub async fn start_for(url: &str) -> std::io::Result<Proxy> {
        use std::net::ToSocketAddrs;
        let options: sqlx::postgres::PgConnectOptions = url
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let upstream = (options.get_host(), options.get_port())
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the server's host has no address"))?;
        Proxy::start(upstream).await
    }

    /// Connect options for the database of `url`, through this proxy.
    pub fn options(&self, url: &str) -> sqlx::Result<sqlx::postgres::PgConnectOptions> {
        let options: sqlx::postgres::PgConnectOptions = url.parse()?;
        Ok(options
            .host(&self.addr.ip().to_string())
            .port(self.addr.port()))
    }

    /// Round trips since the start or the last reset.
    pub fn turns(&self) -> u64 {
        self.turns.load(Ordering::SeqCst)
    }

    /// Starts counting again from 0.
    pub fn reset(&self) {
        self.turns.store(0, Ordering::SeqCst);
    }
}

async fn relay(client: TcpStream, server: TcpStream, turns: Arc<AtomicU64>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    // true: the server spoke last, so the client's next bytes start a round trip
    let server_last = Arc::new(AtomicBool::new(true));
    let flag = server_last.clone();
    let upstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = client_rd.read(&mut buf).await {
            if flag.swap(false, Ordering::SeqCst) {
                turns.fetch_add(1, Ordering::SeqCst);
            }
            if server_wr.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_wr.shutdown().await;
    };
    let downstream = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = server_rd.read(&mut buf).await {
            // set before the client can see the answer and send again
            server_last.store(true, Ordering::SeqCst);
            if client_wr.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_wr.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
