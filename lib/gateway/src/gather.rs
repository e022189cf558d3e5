//! Sends what the upstream has already answered in one piece.
//!
//! The upstream connection hands a response body over one chunk at a time, and the HTTP server
//! flushes every time the body has nothing ready, so a small SSE reply that arrived from the app
//! in a single read (head, priming event, message, end of stream) used to leave the gateway as
//! three writes, each a TCP segment the agent has to wake up for. [`gather`] takes the frames
//! that are already there — giving the upstream connection one scheduler turn at a time to
//! decode what it has buffered — and stops as soon as a turn brings nothing new. It never waits
//! for data that has not arrived: a stream that pauses (a GET stream, progress notifications,
//! a slow tool) is passed on as it comes, one scheduler turn after its first frames.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

/// At most this many bytes are gathered; the rest of a larger reply streams.
pub const MAX_GATHERED_BYTES: usize = 256 * 1024;
/// Scheduler turns given to the upstream connection while gathering.
const MAX_TURNS: usize = 4;

/// What [`gather`] found.
#[allow(missing_debug_implementations)]
pub enum Gathered<B: Body> {
    /// The whole body arrived: its data, in one piece.
    Complete(Bytes),
    /// The body goes on: the frames that arrived first, then the rest as it comes.
    Streaming(Prefixed<B>),
}

/// A body whose first frames were already read.
pub struct Prefixed<B: Body> {
    ready: VecDeque<Result<Frame<Bytes>, B::Error>>,
    rest: Option<B>,
}

impl<B: Body> std::fmt::Debug for Prefixed<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefixed")
            .field("ready", &self.ready.len())
            .field("rest", &self.rest.is_some())
            .finish()
    }
}

// No field is ever pinned: the queue is moved out of, and `rest` is polled through `Pin::new`.
impl<B: Body + Unpin> Unpin for Prefixed<B> {}

impl<B: Body<Data = Bytes> + Unpin> Body for Prefixed<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        if let Some(frame) = self.ready.pop_front() {
            return Poll::Ready(Some(frame));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        if !self.ready.is_empty() {
            return SizeHint::default();
        }
        self.rest.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// Reads the frames of `body` that are available now (see the module docs).
pub async fn gather<B: Body<Data = Bytes> + Unpin>(mut body: B) -> Gathered<B> {
    let mut ready: VecDeque<Result<Frame<Bytes>, B::Error>> = VecDeque::new();
    let mut bytes = 0usize;
    let mut ended = false;
    let mut data_only = true;
    let mut turns = 0;
    loop {
        let before = ready.len();
        while !ended && bytes < MAX_GATHERED_BYTES {
            let polled = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
            match polled {
                Poll::Pending => break,
                Poll::Ready(None) => ended = true,
                Poll::Ready(Some(Ok(frame))) => {
                    match frame.data_ref() {
                        Some(data) => bytes += data.len(),
                        None => data_only = false,
                    }
                    ready.push_back(Ok(frame));
                }
                Poll::Ready(Some(Err(err))) => {
                    data_only = false;
                    ended = true;
                    ready.push_back(Err(err));
                }
            }
        }
        let idle_turn = turns > 0 && ready.len() == before;
        if ended || bytes >= MAX_GATHERED_BYTES || idle_turn || turns == MAX_TURNS {
            break;
        }
        turns += 1;
        next_turn().await;
    }
    if ended && data_only {
        return Gathered::Complete(concat(ready));
    }
    Gathered::Streaming(Prefixed { ready, rest: (!ended).then_some(body) })
}

/// Lets every task that is ready run once (the upstream connection, woken by the polls above),
/// then resumes. Unlike `tokio::task::yield_now`, it does not ask the runtime to poll for I/O
/// first: gathering only wants what the upstream connection has already read.
async fn next_turn() {
    let mut woken = false;
    std::future::poll_fn(|cx| {
        if woken {
            return Poll::Ready(());
        }
        woken = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

fn concat<E>(frames: VecDeque<Result<Frame<Bytes>, E>>) -> Bytes {
    let mut data = frames.into_iter().filter_map(|f| f.ok()?.into_data().ok()).filter(|d| !d.is_empty());
    let Some(first) = data.next() else { return Bytes::new() };
    let Some(second) = data.next() else { return first };
    let mut out = BytesMut::with_capacity(first.len() + second.len());
    out.extend_from_slice(&first);
    out.extend_from_slice(&second);
    for more in data {
        out.extend_from_slice(&more);
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use http_body_util::StreamBody;
    use std::convert::Infallible;

    type Chunk = Result<Frame<Bytes>, Infallible>;

    fn data(s: &'static str) -> Chunk {
        Ok(Frame::data(Bytes::from_static(s.as_bytes())))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_finished_body_is_gathered_into_one_piece() {
        let body = StreamBody::new(futures::stream::iter(vec![data("a"), data("bc"), data(""), data("d")]));
        match gather(body).await {
            Gathered::Complete(bytes) => assert_eq!(bytes, "abcd"),
            Gathered::Streaming(_) => panic!("expected the complete body"),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn frames_from_another_task_are_gathered_within_a_few_turns() {
        let (tx, rx) = futures::channel::mpsc::channel::<Chunk>(0);
        let sender = tokio::spawn(async move {
            use futures::SinkExt;
            let mut tx = tx;
            for part in ["data: 1\n\n", "data: 2\n\n"] {
                tx.send(data(part)).await.expect("the receiver is alive");
            }
        });
        match gather(StreamBody::new(rx)).await {
            Gathered::Complete(bytes) => assert_eq!(bytes, "data: 1\n\ndata: 2\n\n"),
            Gathered::Streaming(_) => panic!("expected the complete body"),
        }
        sender.await.expect("the sender task ends");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_pausing_stream_is_not_waited_for() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<Chunk>();
        tx.unbounded_send(data("first")).expect("the receiver is alive");
        let started = std::time::Instant::now();
        let Gathered::Streaming(mut body) = gather(StreamBody::new(rx)).await else {
            panic!("the stream has not ended");
        };
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert!(!body.is_end_stream());
        let first = body.frame().await.expect("a frame").expect("no error").into_data().expect("data");
        assert_eq!(first, "first");
        tx.unbounded_send(data("later")).expect("the receiver is alive");
        drop(tx);
        let rest = body.collect().await.expect("the body ends").to_bytes();
        assert_eq!(rest, "later");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn trailers_and_large_bodies_stream() {
        let trailers = Ok(Frame::trailers(http::HeaderMap::new()));
        let body = StreamBody::new(futures::stream::iter(vec![data("x"), trailers]));
        let Gathered::Streaming(body) = gather(body).await else { panic!("trailers are not data") };
        let collected = body.collect().await.expect("the body ends");
        assert!(collected.trailers().is_some());

        let big = vec![0u8; MAX_GATHERED_BYTES];
        let chunks: Vec<Chunk> = vec![Ok(Frame::data(Bytes::from(big))), data("tail")];
        let Gathered::Streaming(body) = gather(StreamBody::new(futures::stream::iter(chunks))).await else {
            panic!("a body over the limit streams");
        };
        assert_eq!(body.collect().await.expect("the body ends").to_bytes().len(), MAX_GATHERED_BYTES + 4);
    }
}
