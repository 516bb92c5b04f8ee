using Broker.Core.Connections;
using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Broker.Server.Listeners;

/// <summary>
/// A plain TCP connection as the <see cref="IDuplexPipe"/> a <c>ClientChannel</c> speaks, without Kestrel's
/// per-connection pair of pipes, schedulers and feature collection: measured on this machine, an idle connection
/// costs Kestrel's socket transport about 5 KB of RSS and this about 2.7 KB (bench/README.md, "Where the memory
/// goes"). A received message goes to the channel's parser on the thread that completed the receive (the
/// connection's <see cref="EpollLoop"/>, normally), and the writer's flush goes straight into <c>send</c>. The pipe is
/// its own <see cref="PipeWriter"/>, and its reader makes the completion an awaited read needs only when it is awaited
/// (the channel is called back instead): fewer objects per connection (bench/README.md).
/// </summary>
/// <remarks>
/// <para>
/// Buffers: an idle connection holds none. The reader waits for data without one (told by its
/// <see cref="EpollLoop"/>, or with a zero-byte receive), then rents from <see cref="ArrayPool{T}.Shared"/> and
/// returns the buffer as soon as everything in it has been consumed; a packet split across receives keeps its
/// buffer, grown to fit. The writer rents one for the bytes of a batch and returns
/// it when the flush has sent them. So memory follows traffic, not connection count.
/// </para>
/// <para>
/// Its users are the channel (plain tcp) and Kestrel's TLS and HTTP middleware (<see cref="EpollTransportFactory"/>).
/// <see cref="PipeReader.CancelPendingRead"/> ends the pending (or next) read with <see cref="ReadResult.IsCanceled"/>
/// and reading can go on, as with a <see cref="Pipe"/>; so does a read's cancellation token, with
/// <see cref="OperationCanceledException"/>. <see cref="PipeWriter.CancelPendingFlush"/> aborts the connection (the
/// channel only calls it when the peer has stopped reading during a close), as <see cref="Abort"/> does. The socket is
/// closed once both sides are completed; bytes already handed to the kernel are still delivered.
/// </para>
/// <para>
/// Closing with a linger (<c>mqtt.close_linger</c>): once both sides are completed, the sending side is shut down
/// (FIN after the last packet, typically a DISCONNECT or refusing CONNACK) and what the peer still sends is received
/// into a shared scratch buffer and dropped, until the peer closes, the linger ends or <see cref="LingerMaxBytes"/>
/// have been dropped; only then is the socket closed. Closing at once while the peer is still writing would make the
/// kernel answer with a reset, and a client that meets the reset while writing never reads why it was dropped. The
/// linger holds no thread and no buffer of its own: one pending receive on .NET's socket engine and a timer.
/// </para>
/// </remarks>
internal sealed partial class SocketPipe : PipeWriter, IDuplexPipe
{
    /// <summary>The smallest buffer rented for a receive or a batch of writes.</summary>
    internal const int MinimumBufferSize = 4096;

    /// <summary>Most bytes a closing connection receives and drops before it is closed even within its linger.</summary>
    internal const int LingerMaxBytes = 4 * 1024 * 1024;

    /// <summary>What lingering connections receive goes here and is never read, so all of them can share it.</summary>
    internal static readonly byte[] DiscardBuffer = new byte[MinimumBufferSize];

    private readonly Socket _socket;
    private readonly Reader _reader;
    private readonly Closing _closing; // shared by a listener's connections: one field instead of three per connection
    private int _sidesCompleted;
    // The writing side: the pipe is its own writer (one object less per connection).
    private PendingWrites _writes;
    private bool _sendFailed;
    private bool _writerCompleted;

    /// <param name="socket">An accepted connection; the pipe owns it.</param>
    /// <param name="loop">The loop that tells when it is readable; null to wait with .NET's socket engine.</param>
    /// <param name="linger">How long to drain the peer's input after both sides are completed; zero closes at once.</param>
    /// <param name="timeProvider">Times the linger; the system's by default.</param>
    /// <param name="closed">Called once the socket has been closed, after the linger.</param>
    public SocketPipe(Socket socket, EpollLoop? loop, TimeSpan linger = default, TimeProvider? timeProvider = null, Action? closed = null)
        : this(socket, loop, new Closing(() => linger, timeProvider ?? TimeProvider.System, closed))
    {
    }

    /// <param name="socket">An accepted connection; the pipe owns it.</param>
    /// <param name="loop">The loop that tells when it is readable; null to wait with .NET's socket engine.</param>
    /// <param name="closing">How the connections of its listener close; one instance for all of them.</param>
    public SocketPipe(Socket socket, EpollLoop? loop, Closing closing)
    {
        // Non-blocking: a send or receive returns WouldBlock instead of waiting. The writer sends directly and only falls
        // back to an asynchronous send when the kernel's buffer is full. Set on the descriptor, not through
        // Socket.Blocking, which gives every socket .NET's asynchronous engine state (SocketAsyncContext, about 230 B
        // with its locks: bench/README.md, "Where an idle connection's memory goes") that the loops never use.
        SetNonBlocking(socket);
        _socket = socket;
        _closing = closing;
        _reader = new Reader(this, loop);
    }

    /// <summary>How a listener's connections close, shared by all of them.</summary>
    /// <param name="Linger">How long to drain the peer's input after both sides are completed (read at each close); zero closes at once.</param>
    /// <param name="TimeProvider">Times the linger.</param>
    /// <param name="Closed">Called once a socket has been closed, after the linger.</param>
    internal sealed record Closing(Func<TimeSpan> Linger, TimeProvider TimeProvider, Action? Closed);

    public PipeReader Input => _reader;

    public PipeWriter Output => this;

    // The writing side: a batch in one rented buffer, sent straight with send at the flush.

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _writes.Count;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ObjectDisposedException.ThrowIf(_writerCompleted, this);
        return _writes.GetMemory(sizeHint);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        ObjectDisposedException.ThrowIf(_writerCompleted, this);
        return _writes.GetSpan(sizeHint);
    }

    public override void Advance(int bytes) => _writes.Advance(bytes);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_writes.Count == 0 || _sendFailed)
            return new ValueTask<FlushResult>(Done());
        // Usually the kernel takes it all at once: a plain non-blocking send, with no state machine, and no
        // SocketAsyncEventArgs ever allocated for a connection that is never sent more than its buffer holds.
        int sent;
        SocketError error;
        try
        {
            error = Send(_socket.SafeHandle, _writes.Written, out sent);
        }
        catch (ObjectDisposedException)
        {
            (sent, error) = (0, SocketError.OperationAborted);
        }
        if (error == SocketError.Success && sent == _writes.Count)
            return new ValueTask<FlushResult>(Done());
        if (error is not (SocketError.Success or SocketError.WouldBlock))
        {
            _sendFailed = true;
            return new ValueTask<FlushResult>(Done());
        }
        return SendRestAsync(sent);
    }

    /// <summary>The kernel's buffer is full: wait until it takes the rest.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> SendRestAsync(int sent)
    {
        try
        {
            while (sent < _writes.Count)
                sent += await _socket.SendAsync(_writes.WrittenFrom(sent), SocketFlags.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            _sendFailed = true;
        }
        return Done();
    }

    /// <summary>Ends a flush: the buffer goes back to the pool; completed once the connection is gone.</summary>
    private FlushResult Done()
    {
        _writes.Release();
        return new FlushResult(isCanceled: false, isCompleted: _sendFailed);
    }

    // Only called when the peer has stopped reading during a close.
    public override void CancelPendingFlush() => Abort();

    /// <summary>
    /// Closes the socket now, which ends a pending send and a pending read (its loop is never told about a descriptor
    /// closed here); the sides still have to be completed.
    /// </summary>
    public void Abort()
    {
        _sendFailed = true;
        _reader.CancelPendingRead();
        _socket.Dispose();
        _reader.Aborted();
    }

    public override void Complete(Exception? exception = null)
    {
        if (_writerCompleted)
            return;
        _writerCompleted = true;
        Done(); // unflushed bytes are dropped with the buffer
        SideCompleted();
    }

    private void SideCompleted()
    {
        if (Interlocked.Increment(ref _sidesCompleted) != 2)
            return;
        var linger = _closing.Linger();
        if (linger > TimeSpan.Zero)
        {
            _ = LingerAsync(linger);
            return;
        }
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already reset by the peer, or aborted.
        }
        _socket.Dispose();
        _closing.Closed?.Invoke();
    }

    /// <summary>Half-closes, then drops what the peer sends until it closes, the linger ends or the byte cap is met.</summary>
    private async Task LingerAsync(TimeSpan linger)
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
            using var timeout = new CancellationTokenSource(linger, _closing.TimeProvider);
            var dropped = 0;
            while (dropped < LingerMaxBytes)
            {
                var received = await _socket.ReceiveAsync(DiscardBuffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (received == 0)
                    break;
                dropped += received;
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Reset by the peer, aborted (CancelPendingFlush), or the linger is over.
        }
        _socket.Dispose();
        _closing.Closed?.Invoke();
    }

    /// <summary>
    /// One non-blocking <c>recv</c> (Linux, where the loops run), straight on the descriptor: the handle is held for
    /// the call, so a socket closed meanwhile fails with <see cref="ObjectDisposedException"/> instead of reading a
    /// reused descriptor. It skips <see cref="Socket.Receive(byte[], int, int, SocketFlags, out SocketError)"/>'s
    /// layers, which cost more than a percent of the broker's CPU at a steady 5k msg/s (bench/README.md).
    /// </summary>
    private static unsafe SocketError Receive(SafeSocketHandle handle, Span<byte> buffer, out int received)
    {
        const int EIntr = 4, EAgain = 11;
        fixed (byte* data = buffer)
        {
            while (true)
            {
                var n = recv(handle, data, buffer.Length, 0);
                if (n >= 0)
                {
                    received = (int)n;
                    return SocketError.Success;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                    continue;
                received = 0;
                return errno == EAgain ? SocketError.WouldBlock : SocketError.SocketError;
            }
        }
    }

    /// <summary>One non-blocking <c>send</c> straight on the descriptor, as <see cref="Receive"/>; never raises SIGPIPE.</summary>
    private static unsafe SocketError Send(SafeSocketHandle handle, ReadOnlySpan<byte> buffer, out int sent)
    {
        const int EIntr = 4, EAgain = 11, MsgNoSignal = 0x4000;
        fixed (byte* data = buffer)
        {
            while (true)
            {
                var n = send(handle, data, buffer.Length, MsgNoSignal);
                if (n >= 0)
                {
                    sent = (int)n;
                    return SocketError.Success;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EIntr)
                    continue;
                sent = 0;
                return errno == EAgain ? SocketError.WouldBlock : SocketError.SocketError;
            }
        }
    }

    /// <summary>O_NONBLOCK on the descriptor (Linux); elsewhere, or should fcntl fail, through <see cref="Socket.Blocking"/>.</summary>
    private static void SetNonBlocking(Socket socket)
    {
        const int GetFlags = 3, SetFlags = 4, NonBlocking = 0x800;
        if (OperatingSystem.IsLinux())
        {
            var flags = fcntl(socket.SafeHandle, GetFlags, 0);
            if (flags >= 0 && fcntl(socket.SafeHandle, SetFlags, flags | NonBlocking) == 0)
                return;
        }
        socket.Blocking = false;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint recv(SafeSocketHandle socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial nint send(SafeSocketHandle socket, byte* buffer, nint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(SafeSocketHandle socket, int command, int argument);

    /// <summary>
    /// The receive side. Waiting for data takes no buffer: with an <see cref="EpollLoop"/>, the loop says when the
    /// socket is readable and the read completes on the loop's thread; without one, a zero-byte receive on .NET's
    /// socket engine waits. Data is received into a buffer rented for it and returned once everything in it has
    /// been consumed; a packet split across receives keeps its buffer, grown to fit.
    /// </summary>
    private sealed class Reader : PipeReader, IReadinessTarget, IReadCallbackSource
    {
        // With a loop: what is known about the socket since the last receive.
        private const int Drained = 0;  // the last receive took everything: wait for the loop's next report
        private const int Readable = 1; // reported (or the last receive filled the buffer): there may be data
        private const int Waiting = 2;  // a read is pending; the loop completes it at the next report

        // Fewest fields (every idle connection holds one reader): the socket is the owner's, and the loop and the
        // zero-byte receive's cancellation, which a reader never has both of, share one field (bench/README.md).
        private readonly SocketPipe _owner;
        private object? _waitWith; // the EpollLoop; without one, the CancellationTokenSource that ends a pending receive
        private readonly long _loopId;
        private AwaitedRead? _awaited; // the read a loop completes, when awaited (ReadAsync); made on the first
        private IReadCallback? _callback; // the reader that is called back instead (TryReadOrCallBack)
        private int _state = Readable; // the client may have sent CONNECT already
        private volatile bool _peerClosed; // reported by the loop: a short receive leaves the end of the stream
        private ReceivedBytes _received;
        private bool _ended;       // end of stream, reset, or read cancelled
        private int _cancelled;
        private bool _completed;

        public Reader(SocketPipe owner, EpollLoop? loop)
        {
            _owner = owner;
            if (loop is null)
            {
                _waitWith = new CancellationTokenSource();
                return;
            }
            if (loop.TryRegister(owner._socket.Handle, this, out _loopId))
                _waitWith = loop;
            else
                _ended = true; // the listener is stopping
        }

        private EpollLoop? Loop => _waitWith as EpollLoop;

        private CancellationTokenSource? CancelWait => _waitWith as CancellationTokenSource;

        private ReadResult Current(bool cancelled) =>
            new(_received.Unconsumed, cancelled, _ended);

        public override bool TryRead(out ReadResult result)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            var cancelled = Interlocked.Exchange(ref _cancelled, 0) == 1;
            if (cancelled || _ended || _received.HasUnexamined)
            {
                result = Current(cancelled);
                return true;
            }
            result = default;
            return false;
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            if (TryRead(out var result))
                return new ValueTask<ReadResult>(result);
            if (Loop is not { } loop)
                return cancellationToken.CanBeCanceled ? ReceiveAsync(cancellationToken) : ReceiveAsync();
            _callback = null;
            var awaited = _awaited ??= new AwaitedRead();
            // A token (the TLS handshake's timeout) ends the read with OperationCanceledException, as a
            // Pipe's does. Registered before the read may wait, and disposed before it ends, so that a registration
            // never outlives its read.
            if (cancellationToken.CanBeCanceled)
                awaited.Cancellation = cancellationToken.UnsafeRegister(static (reader, token) => ((Reader)reader!).CancelAwaited(token), this);
            if (ReceiveOrWait(loop, out result))
            {
                awaited.EndCancellation();
                return new ValueTask<ReadResult>(result);
            }
            if (cancellationToken.IsCancellationRequested)
                CancelAwaited(cancellationToken); // fired before the read was waiting, when it could not end it
            return new ValueTask<ReadResult>(awaited, awaited.Core.Version);
        }

        /// <summary>An awaited read's token fired: the read, if still waiting, ends with OperationCanceledException.</summary>
        private void CancelAwaited(CancellationToken token)
        {
            if (Interlocked.CompareExchange(ref _state, Readable, Waiting) != Waiting)
                return; // completed meanwhile, or not waiting yet (ReadAsync checks the token once it is)
            var awaited = _awaited!;
            awaited.Cancellation = default; // this callback's own
            awaited.Core.SetException(new OperationCanceledException(token));
        }

        public bool TryReadOrCallBack(IReadCallback callback, out ReadResult result)
        {
            if (TryRead(out result))
                return true;
            _callback = callback;
            if (Loop is { } loop)
                return ReceiveOrWait(loop, out result);
            // Without a loop (not Linux, or tests): the zero-byte receive's wait, then the callback.
            var received = ReceiveAsync();
            if (received.IsCompleted)
            {
                result = received.Result;
                return true;
            }
            _ = CallBackAsync(received);
            return false;
        }

        private async Task CallBackAsync(ValueTask<ReadResult> received) => Complete(await received.ConfigureAwait(false));

        /// <summary>A pending read's result, to the callback or to the awaiting reader.</summary>
        private void Complete(ReadResult result)
        {
            if (_callback is { } callback)
            {
                callback.OnRead(result);
                return;
            }
            var awaited = _awaited!;
            awaited.EndCancellation();
            awaited.Core.SetResult(result);
        }

        /// <summary>
        /// With a loop: receives if the socket may have data (true), else waits for the loop's report (false: the read
        /// completes with <see cref="Complete"/>). On the loop's own thread, a socket with more data waits its turn
        /// instead (<see cref="EpollLoop.Revisit"/>).
        /// </summary>
        private bool ReceiveOrWait(EpollLoop loop, out ReadResult result)
        {
            var onLoop = loop.IsCurrent;
            result = default;
            while (true)
            {
                if (!onLoop && TryReceive(out result))
                    return true;
                if (_callback is null)
                    _awaited!.Core.Reset();
                var state = Volatile.Read(ref _state);
                if (state == Drained && TryStartWaiting(Drained))
                {
                    if (!CancelledMeanwhile())
                        return false;
                    result = Cancelled();
                    return true;
                }
                if (state == Readable && onLoop && TryStartWaiting(Readable))
                {
                    if (CancelledMeanwhile())
                    {
                        result = Cancelled();
                        return true;
                    }
                    loop.Revisit(this);
                    return false;
                }
                // Reported meanwhile: receive (or, on the loop, revisit).
            }
        }

        void IReadinessTarget.OnReadable(bool peerClosed)
        {
            if (peerClosed)
                _peerClosed = true;
            while (true)
            {
                var state = Volatile.Read(ref _state);
                if (state == Waiting)
                {
                    if (Interlocked.CompareExchange(ref _state, Readable, Waiting) != Waiting)
                        continue;
                    if (TryReceive(out var result))
                    {
                        // The channel's read loop goes on here, on the loop's thread, until it waits again.
                        Complete(result);
                        return;
                    }
                    // Nothing after all: wait again, unless reported meanwhile.
                    if (!TryStartWaiting(Drained))
                        continue;
                    if (CancelledMeanwhile())
                        Complete(Cancelled());
                    return;
                }
                // Not waiting (the channel is busy with what it read): its next read receives.
                if (state == Readable || Interlocked.CompareExchange(ref _state, Readable, state) == state)
                    return;
            }
        }

        private bool TryStartWaiting(int from) => Interlocked.CompareExchange(ref _state, Waiting, from) == from;

        /// <summary>
        /// Right after <see cref="TryStartWaiting"/>: whether a <see cref="CancelPendingRead"/> came while the read was
        /// not yet waiting (so it did not end it), in which case the read is taken back and must end now. Its end
        /// would otherwise depend on the loop's report of the shutdown, which never comes when the socket is being
        /// closed (<see cref="SocketPipe.CancelPendingFlush"/>).
        /// </summary>
        private bool CancelledMeanwhile() =>
            Volatile.Read(ref _cancelled) == 1 && Interlocked.CompareExchange(ref _state, Readable, Waiting) == Waiting;

        /// <summary>With a loop: one non-blocking receive, if there may be data; false when there was none.</summary>
        private bool TryReceive(out ReadResult result)
        {
            result = default;
            if (Interlocked.Exchange(ref _state, Drained) != Readable)
                return false;
            var space = _received.Prepare();
            int received;
            SocketError error;
            try
            {
                error = Receive(_owner._socket.SafeHandle, _received.Free, out received);
            }
            catch (ObjectDisposedException)
            {
                (received, error) = (0, SocketError.OperationAborted);
            }
            if (error == SocketError.WouldBlock)
            {
                _received.ReturnIfEmpty();
                return false;
            }
            // Edge-triggered: a receive that filled the buffer may have left data, and one after the peer closed has left
            // the end, which no new report will announce.
            if (error == SocketError.Success && received > 0 && (received == space || _peerClosed))
                Volatile.Write(ref _state, Readable);
            result = Received(error == SocketError.Success ? received : 0);
            return true;
        }

        /// <summary>Without a loop: waits with a zero-byte receive, then receives.</summary>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> ReceiveAsync()
        {
            int received;
            try
            {
                if (!_received.HasBuffer)
                    await _owner._socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, CancelWait!.Token).ConfigureAwait(false);
                _received.Prepare();
                received = await _owner._socket.ReceiveAsync(_received.FreeMemory, SocketFlags.None, CancelWait!.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (Volatile.Read(ref _cancelled) == 1)
            {
                // CancelPendingRead: this read ends, reading goes on with a new wait's cancellation.
                _waitWith = new CancellationTokenSource();
                return Cancelled();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                received = 0; // reset by the peer, aborted by this side, or a token's cancellation: the end of the stream
            }
            return Received(received);
        }

        /// <summary>
        /// Without a loop, a read with a token: when it fires, the read ends with OperationCanceledException, and so
        /// does reading (the socket engine's pending receive is cancelled with it; io_threads = 0 only).
        /// </summary>
        private async ValueTask<ReadResult> ReceiveAsync(CancellationToken cancellationToken)
        {
            ReadResult result;
            using (cancellationToken.UnsafeRegister(static reader => ((Reader)reader!).CancelWait!.Cancel(), this))
                result = await ReceiveAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return result;
        }

        /// <summary>The result of a receive of <paramref name="received"/> bytes, 0 for the end of the stream.</summary>
        private ReadResult Received(int received)
        {
            if (received == 0)
                _ended = true;
            _received.Added(received);
            return Current(Interlocked.Exchange(ref _cancelled, 0) == 1);
        }

        /// <summary>The result of a read ended by <see cref="CancelPendingRead"/>: what is buffered, and reading goes on.</summary>
        private ReadResult Cancelled()
        {
            Volatile.Write(ref _cancelled, 0);
            return Current(cancelled: true);
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => _received.AdvanceTo(consumed, examined);

        /// <summary>The socket is closed: a later read receives (and meets the end) instead of waiting for the loop.</summary>
        public void Aborted() => Interlocked.CompareExchange(ref _state, Readable, Drained);

        public override void CancelPendingRead()
        {
            if (Interlocked.Exchange(ref _cancelled, 1) == 1)
                return;
            // Wakes a pending zero-byte receive. Not by shutting down the receive side: a closing connection still
            // drains its input (the linger), and after SHUT_RD a receive no longer waits for the peer.
            CancelWait?.Cancel();
            // A read waiting for the loop ends now, not at the loop's next report, which a closed socket never
            // gets. Not on this thread: the caller may hold a lock the channel's read loop would take.
            if (Loop is not null && Interlocked.CompareExchange(ref _state, Readable, Waiting) == Waiting)
                ThreadPool.UnsafeQueueUserWorkItem(static reader => reader.Complete(reader.Cancelled()), this, preferLocal: false);
        }

        public override void Complete(Exception? exception = null)
        {
            if (_completed)
                return;
            _completed = true;
            Loop?.Unregister(_loopId);
            _received.Release();
            _owner.SideCompleted();
        }
    }

    /// <summary>
    /// The completion of an awaited read (<see cref="Reader.ReadAsync"/>), in an object of its own: the channel reads
    /// with <see cref="Reader.TryReadOrCallBack"/>, so its connections never make one (80 B less per connection).
    /// </summary>
    private sealed class AwaitedRead : IValueTaskSource<ReadResult>
    {
        public ManualResetValueTaskSourceCore<ReadResult> Core;

        /// <summary>The pending read's cancellation, if its token can fire.</summary>
        public CancellationTokenRegistration Cancellation;

        /// <summary>Before the read ends: its token can no longer fire into it (waits for a callback running now).</summary>
        public void EndCancellation()
        {
            Cancellation.Dispose();
            Cancellation = default;
        }

        ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => Core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => Core.GetStatus(token);

        void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>The peer's address, read once from the accepted socket (null if it is already gone).</summary>
    public static IPEndPoint? RemoteOf(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint as IPEndPoint;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
