using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Broker.Core.Connections;
using static Broker.Server.Listeners.OpenSsl;

namespace Broker.Server.Listeners;

/// <summary>
/// MQTT over TLS on an ssl listener: OpenSSL (<see cref="OpenSsl"/>) driven straight from the connection's
/// <see cref="SocketPipe"/> on its epoll loop, as mosquitto drives it from its own loop. The handshake reads and writes
/// the socket's pipe (<see cref="HandshakeAsync"/>); then the channel reads plaintext that <c>SSL_read</c> decrypted from
/// what the socket received, called back as over plain TCP (<see cref="IReadCallbackSource"/>), and its flush goes
/// through <c>SSL_write</c> straight into the socket's send buffer. No <see cref="System.Net.Security.SslStream"/>,
/// stream adapters or pipes in between (bench/README.md, "TLS handshakes driven by OpenSSL").
/// </summary>
/// <remarks>
/// <para>
/// Ciphertext moves through a BIO of the broker's own (<see cref="OpenSsl.NewPipeBio"/>): OpenSSL's reads take bytes of
/// the socket pipe's current buffer (<see cref="ReadCiphertext"/>) and its writes go into the socket pipe's writer
/// (<see cref="WriteCiphertext"/>), so there is no buffer between OpenSSL and the socket, and an idle connection holds
/// none (SSL_MODE_RELEASE_BUFFERS frees OpenSSL's own).
/// </para>
/// <para>
/// One lock around every call into the connection's <c>SSL</c>, which is not safe to use from two threads (the reader
/// and the writer normally run on the same loop thread, so it is uncontended). What a read makes OpenSSL write (an
/// alert) is held and sent with the writer's next flush or at its completion, so the reader never writes into a send
/// the writer may have pending. Completing the writer sends close_notify after what was flushed; the socket pipe
/// then closes as a plain TCP connection does (<c>mqtt.close_linger</c>). The <c>SSL</c> is freed once both sides are
/// completed.
/// </para>
/// </remarks>
internal sealed class TlsPipe : PipeWriter, IDuplexPipe
{
    private readonly SocketPipe _inner;
    private readonly Reader _reader;
    private readonly Lock _lock = new();
    private nint _ssl;
    private ReadOnlySequence<byte> _incoming; // ciphertext OpenSSL may read during the current call
    private long _taken;
    private bool _holdWrites; // during SSL_read: what OpenSSL writes goes to _held
    private ArrayBufferWriter<byte>? _held;
    private bool _established;
    private bool _broken; // a fatal TLS error: nothing more is sent, not even close_notify
    private int _sidesCompleted;
    private PendingWrites _writes; // the writing side: plaintext of a batch, encrypted at the flush
    private bool _writerCompleted;

    /// <param name="inner">The accepted connection's socket pipe; this pipe completes it.</param>
    /// <param name="ssl">A new <c>SSL</c> in the server's role (<see cref="TlsServerContext.NewSsl"/>); this pipe frees it.</param>
    public TlsPipe(SocketPipe inner, nint ssl)
    {
        _inner = inner;
        _ssl = ssl;
        nint bio;
        try
        {
            bio = NewPipeBio();
        }
        catch
        {
            SSL_free(ssl);
            throw;
        }
        SSL_set_bio(ssl, bio, bio); // one BIO both ways: the SSL takes its one reference
        _reader = new Reader(this);
    }

    public PipeReader Input => _reader;

    public PipeWriter Output => this;

    /// <summary>
    /// Runs the TLS handshake over the socket pipe; null when it succeeded, else why it failed (OpenSSL's reason, the
    /// client closing, or <paramref name="cancellationToken"/>: the handshake timeout, the listener stopping). Alerts
    /// OpenSSL makes for a failure are sent before it returns.
    /// </summary>
    public async Task<string?> HandshakeAsync(CancellationToken cancellationToken)
    {
        ReadOnlySequence<byte> input = default;
        var fromRead = false;
        var ends = false;
        try
        {
            while (true)
            {
                int result, error;
                string? failure = null;
                long taken;
                lock (_lock)
                {
                    _incoming = input;
                    _taken = 0;
                    Current = this;
                    try
                    {
                        ERR_clear_error();
                        result = SSL_do_handshake(_ssl);
                        error = result == 1 ? ErrorNone : SSL_get_error(_ssl, result);
                        if (error is not (ErrorNone or ErrorWantRead))
                            failure = TakeErrors(error == ErrorSyscall ? "the connection failed" : "TLS error " + error);
                    }
                    finally
                    {
                        Current = null;
                    }
                    taken = _taken;
                    _incoming = default;
                }
                if (fromRead)
                    Consume(input, taken);
                if (_inner.UnflushedBytes > 0 && (await _inner.FlushAsync(CancellationToken.None).ConfigureAwait(false)).IsCompleted)
                    return "the connection was lost";
                if (result == 1)
                {
                    _established = true;
                    return null;
                }
                if (failure is not null)
                {
                    _broken = true;
                    return failure;
                }
                if (ends)
                    return "the client closed the connection";
                var read = await _inner.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
                (input, fromRead, ends) = (read.Buffer, true, read.IsCompleted);
            }
        }
        catch (OperationCanceledException)
        {
            return "it did not end in time";
        }
    }

    /// <summary>The client's certificate (verified by OpenSSL against cacertfile), if it sent one.</summary>
    public unsafe X509Certificate2? PeerCertificate()
    {
        byte[] der;
        lock (_lock)
        {
            var certificate = _ssl == 0 ? 0 : SSL_get1_peer_certificate(_ssl);
            if (certificate == 0)
                return null;
            try
            {
                var length = i2d_X509(certificate, null);
                if (length <= 0)
                    return null;
                der = new byte[length];
                fixed (byte* start = der)
                {
                    var cursor = start;
                    i2d_X509(certificate, &cursor);
                }
            }
            finally
            {
                X509_free(certificate);
            }
        }
        return X509CertificateLoader.LoadCertificate(der);
    }

    /// <summary>The socket pipe's reader has given <paramref name="input"/>: OpenSSL took <paramref name="taken"/> bytes of it.</summary>
    private void Consume(ReadOnlySequence<byte> input, long taken)
    {
        // All taken: the next read needs new bytes. Otherwise (the handshake's last read also held application data)
        // the rest is read again at once.
        if (taken == input.Length)
            _inner.Input.AdvanceTo(input.End);
        else
            _inner.Input.AdvanceTo(input.GetPosition(taken));
    }

    /// <summary>OpenSSL's BIO read, during a call into the <c>SSL</c>: bytes of the socket pipe's current buffer.</summary>
    internal int ReadCiphertext(Span<byte> destination)
    {
        var rest = _incoming.Slice(_taken);
        if (rest.IsEmpty)
            return 0;
        var count = (int)Math.Min(destination.Length, rest.Length);
        if (rest.IsSingleSegment)
            rest.FirstSpan[..count].CopyTo(destination);
        else
            rest.Slice(0, count).CopyTo(destination);
        _taken += count;
        return count;
    }

    /// <summary>OpenSSL's BIO write: into the socket pipe's send buffer (or held, during a read).</summary>
    internal void WriteCiphertext(ReadOnlySpan<byte> data)
    {
        if (_holdWrites)
        {
            (_held ??= new ArrayBufferWriter<byte>()).Write(data);
            return;
        }
        data.CopyTo(_inner.GetSpan(data.Length));
        _inner.Advance(data.Length);
    }

    /// <summary>Under the lock: what a read made OpenSSL write goes out before anything newer.</summary>
    private void ReleaseHeld()
    {
        if (_held is not { WrittenCount: > 0 } held)
            return;
        WriteCiphertext(held.WrittenSpan);
        held.Clear();
    }

    // --- the writing side --------------------------------------------------------------------------------------------

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

    /// <summary>Encrypts the batch into the socket pipe's send buffer and flushes that (usually one <c>send</c>).</summary>
    public override unsafe ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            ReleaseHeld();
            if (_writes.Count > 0 && _ssl != 0 && !_broken)
            {
                Current = this;
                try
                {
                    ERR_clear_error();
                    fixed (byte* plaintext = _writes.Written)
                    {
                        if (SSL_write_ex(_ssl, plaintext, (nuint)_writes.Count, out _) != 1)
                        {
                            _broken = true;
                            ERR_clear_error();
                        }
                    }
                }
                finally
                {
                    Current = null;
                }
            }
        }
        _writes.Release();
        if (_broken && _inner.UnflushedBytes == 0)
            return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        return _inner.FlushAsync(cancellationToken);
    }

    // Only called when the peer has stopped reading during a close.
    public override void CancelPendingFlush() => _inner.CancelPendingFlush();

    /// <summary>Sends close_notify (after an established session) and completes the socket pipe's writer once it is sent.</summary>
    public override void Complete(Exception? exception = null)
    {
        if (_writerCompleted)
            return;
        _writerCompleted = true;
        _writes.Release(); // unflushed bytes are dropped, as on plain TCP
        lock (_lock)
        {
            ReleaseHeld();
            if (_ssl != 0 && _established && !_broken)
            {
                Current = this;
                try
                {
                    ERR_clear_error();
                    SSL_shutdown(_ssl);
                    ERR_clear_error();
                }
                finally
                {
                    Current = null;
                }
            }
        }
        var flush = _inner.UnflushedBytes > 0 ? _inner.FlushAsync() : default;
        if (flush.IsCompleted)
            WriterDone();
        else
            _ = WriterDoneAsync(flush);
    }

    private async Task WriterDoneAsync(ValueTask<FlushResult> flush)
    {
        await flush.ConfigureAwait(false); // a failed send ends as a completed flush, never throws
        WriterDone();
    }

    private void WriterDone()
    {
        _inner.Complete();
        SideCompleted();
    }

    private void SideCompleted()
    {
        if (Interlocked.Increment(ref _sidesCompleted) != 2)
            return;
        lock (_lock)
        {
            if (_ssl != 0)
                SSL_free(_ssl); // and its BIO
            _ssl = 0;
        }
    }

    // --- the reading side --------------------------------------------------------------------------------------------

    /// <summary>
    /// Plaintext for the channel: what <c>SSL_read</c> decrypts goes into a buffer rented for it, returned as soon as
    /// everything in it has been consumed (as <see cref="SocketPipe"/>'s). Cancelling a pending read and the end of
    /// the stream are the socket pipe's, passed on; a close_notify, or a TLS error, is the end of the stream too.
    /// </summary>
    private sealed class Reader(TlsPipe owner) : PipeReader, IReadCallbackSource, IReadCallback
    {
        private IReadCallback? _callback;
        private ReceivedBytes _plaintext;
        private bool _ended;
        private bool _innerEnded; // the socket's stream ended: what OpenSSL still holds is all there is
        private bool _completed;

        private IReadCallbackSource Inner => (IReadCallbackSource)owner._inner.Input;

        private ReadResult Current(bool cancelled) =>
            new(_plaintext.Unconsumed, cancelled, _ended);

        public override bool TryRead(out ReadResult result)
        {
            ObjectDisposedException.ThrowIf(_completed, this);
            if (_ended || _plaintext.HasUnexamined)
            {
                result = Current(cancelled: false);
                return true;
            }
            result = default;
            return false;
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
            TryRead(out var result) ? new ValueTask<ReadResult>(result) : ReadMoreAsync(cancellationToken);

        private async ValueTask<ReadResult> ReadMoreAsync(CancellationToken cancellationToken)
        {
            if (Decrypt(default, fromRead: false, ends: false))
                return Current(cancelled: false);
            while (true)
            {
                var read = await owner._inner.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (Decrypt(read.Buffer, fromRead: true, read.IsCompleted) || read.IsCanceled)
                    return Current(read.IsCanceled);
            }
        }

        public bool TryReadOrCallBack(IReadCallback callback, out ReadResult result)
        {
            if (TryRead(out result))
                return true;
            if (Decrypt(default, fromRead: false, ends: false))
            {
                result = Current(cancelled: false);
                return true;
            }
            while (true)
            {
                _callback = callback;
                if (!Inner.TryReadOrCallBack(this, out var read))
                    return false; // OnRead goes on, possibly already on another thread
                _callback = null;
                if (Decrypt(read.Buffer, fromRead: true, read.IsCompleted) || read.IsCanceled)
                {
                    result = Current(read.IsCanceled);
                    return true;
                }
            }
        }

        void IReadCallback.OnRead(in ReadResult read)
        {
            var (buffer, completed, cancelled) = (read.Buffer, read.IsCompleted, read.IsCanceled);
            while (true)
            {
                if (Decrypt(buffer, fromRead: true, completed) || cancelled)
                {
                    var callback = _callback!;
                    _callback = null;
                    callback.OnRead(Current(cancelled));
                    return;
                }
                // Part of a record: wait for the rest.
                if (!Inner.TryReadOrCallBack(this, out var next))
                    return;
                (buffer, completed, cancelled) = (next.Buffer, next.IsCompleted, next.IsCanceled);
            }
        }

        /// <summary>
        /// Decrypts what OpenSSL can give now (from what it holds and <paramref name="input"/>, the socket pipe's
        /// buffer when <paramref name="fromRead"/>) into the buffer; true when plaintext was added or the stream ended.
        /// </summary>
        private unsafe bool Decrypt(ReadOnlySequence<byte> input, bool fromRead, bool ends)
        {
            var added = false;
            long taken;
            lock (owner._lock)
            {
                if (owner._ssl == 0)
                {
                    _ended = true;
                    return true;
                }
                owner._incoming = input;
                owner._taken = 0;
                owner._holdWrites = true;
                OpenSsl.Current = owner;
                try
                {
                    while (true)
                    {
                        var space = _plaintext.Prepare();
                        ERR_clear_error();
                        int result;
                        nuint read;
                        fixed (byte* plaintext = _plaintext.Free)
                            result = SSL_read_ex(owner._ssl, plaintext, (nuint)space, out read);
                        if (result == 1)
                        {
                            _plaintext.Added((int)read);
                            added = true;
                            continue;
                        }
                        var error = SSL_get_error(owner._ssl, result);
                        if (error == ErrorWantRead)
                            break;
                        // close_notify ends the stream; anything else is a broken session, which gets no close_notify.
                        if (error != ErrorZeroReturn)
                            owner._broken = true;
                        ERR_clear_error();
                        _ended = true;
                        break;
                    }
                }
                finally
                {
                    OpenSsl.Current = null;
                    owner._holdWrites = false;
                }
                taken = owner._taken;
                owner._incoming = default;
            }
            if (fromRead)
                owner.Consume(input, taken);
            if (ends && taken == input.Length)
                _innerEnded = true;
            if (!added && _innerEnded)
                _ended = true; // ended without close_notify (a reset, or a client that just closes)
            if (!added)
                _plaintext.ReturnIfEmpty();
            return added || _ended;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => _plaintext.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => owner._inner.Input.CancelPendingRead();

        public override void Complete(Exception? exception = null)
        {
            if (_completed)
                return;
            _completed = true;
            owner._inner.Input.Complete();
            _plaintext.Release();
            owner.SideCompleted();
        }
    }
}
