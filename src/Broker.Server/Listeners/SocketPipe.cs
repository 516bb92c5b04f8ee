using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Broker.Server.Listeners;

/// <summary>
/// A plain TCP connection as the <see cref="IDuplexPipe"/> a <c>ClientChannel</c> speaks, without Kestrel's
/// per-connection pair of pipes, schedulers and feature collection: measured on this machine, an idle connection
/// costs Kestrel's socket transport about 5 KB of RSS and this about 2.7 KB (bench/README.md, "Where the memory
/// goes"). A received message goes to the channel's parser on the thread that completed the receive, and the
/// writer's flush goes straight into <c>send</c>.
/// </summary>
/// <remarks>
/// <para>
/// Buffers: an idle connection holds none. The reader waits for data with a zero-byte receive, then rents from
/// <see cref="ArrayPool{T}.Shared"/> and returns the buffer as soon as everything in it has been consumed; a packet
/// split across receives keeps its buffer, grown to fit. The writer rents one for the bytes of a batch and returns
/// it when the flush has sent them. So memory follows traffic, not connection count.
/// </para>
/// <para>
/// What it does not do, because its one user does not need it: <see cref="PipeReader.CancelPendingRead"/> ends
/// reading for good (the channel only calls it to close: the receive side is shut down, which wakes a pending
/// receive), and <see cref="PipeWriter.CancelPendingFlush"/> aborts the connection (the channel only calls it when
/// the peer has stopped reading during a close). The socket is closed once both sides are completed; bytes already
/// handed to the kernel are still delivered.
/// </para>
/// </remarks>
internal sealed class SocketPipe : IDuplexPipe
{
    /// <summary>The smallest buffer rented for a receive or a batch of writes.</summary>
    internal const int MinimumBufferSize = 4096;

    private readonly Socket _socket;
    private readonly Reader _reader;
    private readonly Writer _writer;
    private int _sidesCompleted;

    public SocketPipe(Socket socket)
    {
        // Synchronous calls return WouldBlock instead of waiting (asynchronous ones are unaffected): the writer sends
        // directly and only falls back to an asynchronous send when the kernel's buffer is full.
        socket.Blocking = false;
        _socket = socket;
        _reader = new Reader(this);
        _writer = new Writer(this);
    }

    public PipeReader Input => _reader;

    public PipeWriter Output => _writer;

    private void SideCompleted()
    {
        if (Interlocked.Increment(ref _sidesCompleted) != 2)
            return;
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already reset by the peer, or aborted.
        }
        _socket.Dispose();
    }

    private static byte[] Grow(byte[]? buffer, int used, int needed)
    {
        var grown = ArrayPool<byte>.Shared.Rent(Math.Max(MinimumBufferSize, Math.Max(needed, (buffer?.Length ?? 0) * 2)));
        if (buffer is not null)
        {
            buffer.AsSpan(0, used).CopyTo(grown);
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return grown;
    }

    private sealed class Reader(SocketPipe owner) : PipeReader
    {
        private readonly Socket _socket = owner._socket;
        private byte[]? _buffer;
        private int _start; // unconsumed bytes are _buffer[_start.._end]
        private int _end;
        private bool _examinedAll; // the last AdvanceTo examined every byte: the next read needs new ones
        private bool _ended;       // end of stream, reset, or read cancelled
        private int _cancelled;
        private bool _completed;

        private ReadResult Current(bool cancelled) =>
            new(new ReadOnlySequence<byte>(_buffer ?? [], _start, _end - _start), cancelled, _ended);

        public override bool TryRead(out ReadResult result)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            var cancelled = Interlocked.Exchange(ref _cancelled, 0) == 1;
            if (cancelled || _ended || (_end > _start && !_examinedAll))
            {
                result = Current(cancelled);
                return true;
            }
            result = default;
            return false;
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
            TryRead(out var result) ? new ValueTask<ReadResult>(result) : ReceiveAsync();

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> ReceiveAsync()
        {
            try
            {
                if (_buffer is null)
                {
                    // Idle: wait until the socket is readable without holding a buffer.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                    _buffer = Grow(null, 0, MinimumBufferSize);
                }
                else if (_end == _buffer.Length)
                {
                    // A packet larger than what is left: move it to the front, or into a larger buffer.
                    if (_start > 0)
                    {
                        _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                    }
                    else
                    {
                        _buffer = Grow(_buffer, _end, _end + MinimumBufferSize);
                    }
                    _end -= _start;
                    _start = 0;
                }
                var received = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                    _ended = true;
                _end += received;
                _examinedAll = false;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Reset by the peer, or aborted by this side: the end of the stream either way.
                _ended = true;
            }
            var cancelled = Interlocked.Exchange(ref _cancelled, 0) == 1;
            _ended |= cancelled;
            return Current(cancelled);
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            if (_buffer is null)
                return;
            // Positions of a sequence over one array are indexes into that array.
            _start = consumed.GetInteger();
            _examinedAll = examined.GetInteger() == _end;
            if (_start == _end)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
                _start = _end = 0;
            }
        }

        public override void CancelPendingRead()
        {
            if (Interlocked.Exchange(ref _cancelled, 1) == 1)
                return;
            try
            {
                // Wakes a pending receive with the end of the stream; sending is not affected.
                _socket.Shutdown(SocketShutdown.Receive);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }
        }

        public override void Complete(Exception? exception = null)
        {
            if (_completed)
                return;
            _completed = true;
            if (_buffer is not null)
                ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            owner.SideCompleted();
        }
    }

    private sealed class Writer(SocketPipe owner) : PipeWriter
    {
        private readonly Socket _socket = owner._socket;
        private byte[]? _buffer;
        private int _written;
        private bool _failed;
        private bool _completed;

        public override bool CanGetUnflushedBytes => true;

        public override long UnflushedBytes => _written;

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsMemory(_written);
        }

        public override Span<byte> GetSpan(int sizeHint = 0)
        {
            Reserve(sizeHint);
            return _buffer.AsSpan(_written);
        }

        private void Reserve(int sizeHint)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            var needed = Math.Max(sizeHint, 1);
            if (_buffer is null || _buffer.Length - _written < needed)
                _buffer = Grow(_buffer, _written, _written + needed);
        }

        public override void Advance(int bytes)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(bytes);
            if (_buffer is null || _written + bytes > _buffer.Length)
                throw new InvalidOperationException("advanced past the memory obtained");
            _written += bytes;
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (_written == 0 || _failed)
                return new ValueTask<FlushResult>(Done());
            // Usually the kernel takes it all at once: a plain non-blocking send, with no state machine, and no
            // SocketAsyncEventArgs ever allocated for a connection that is never sent more than its buffer holds.
            int sent;
            SocketError error;
            try
            {
                sent = _socket.Send(_buffer!, 0, _written, SocketFlags.None, out error);
            }
            catch (ObjectDisposedException)
            {
                (sent, error) = (0, SocketError.OperationAborted);
            }
            if (error == SocketError.Success && sent == _written)
                return new ValueTask<FlushResult>(Done());
            if (error is not (SocketError.Success or SocketError.WouldBlock))
            {
                _failed = true;
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
                while (sent < _written)
                    sent += await _socket.SendAsync(_buffer.AsMemory(sent, _written - sent), SocketFlags.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                _failed = true;
            }
            return Done();
        }

        /// <summary>Ends a flush: the buffer goes back to the pool; completed once the connection is gone.</summary>
        private FlushResult Done()
        {
            _written = 0;
            if (_buffer is not null)
                ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            return new FlushResult(isCanceled: false, isCompleted: _failed);
        }

        public override void CancelPendingFlush()
        {
            // Only called when the peer has stopped reading during a close: abort, which ends a pending send.
            _failed = true;
            _socket.Dispose();
        }

        public override void Complete(Exception? exception = null)
        {
            if (_completed)
                return;
            _completed = true;
            Done(); // unflushed bytes are dropped with the buffer
            owner.SideCompleted();
        }
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
