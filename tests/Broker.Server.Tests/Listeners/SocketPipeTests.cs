using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Broker.Core.Connections;
using Broker.Server.Listeners;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Broker.Server.Tests.Listeners;

/// <summary>The plain TCP transport as the listener runs it: reads told by an <see cref="EpollLoop"/>.</summary>
public sealed class SocketPipeOnLoopTests() : SocketPipeTests(loops: 1)
{
    [Fact]
    public async Task Read_OnTheLoop_AConnectionWithMoreThanOneReceive_LetsTheLoopServeTheOthersInBetween()
    {
        const int Chunks = 12; // receives of SocketPipe.MinimumBufferSize
        var busy = Connect(out var busyPipe);
        // Both reads wait for the loop, so both complete on its thread, and the busy one's read loop goes on there.
        var busyRead = busyPipe.Input.ReadAsync(Cancel);
        var otherRead = _pipe.Input.ReadAsync(Cancel).AsTask();
        Assert.False(busyRead.IsCompleted || otherRead.IsCompleted);
        var busyReads = 0;
        var readsBeforeTheOther = otherRead.ContinueWith(_ => Volatile.Read(ref busyReads), Cancel, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        // The other connection's byte arrives while the busy one has read its first chunk and has 11 to go.
        var consumer = ConsumeAsync(busyRead, busyPipe.Input, () =>
        {
            if (Interlocked.Increment(ref busyReads) == 1)
                _client.Send([42]);
        });

        await busy.SendAsync(new byte[Chunks * SocketPipe.MinimumBufferSize], SocketFlags.None, Cancel);

        var other = await otherRead.WaitAsync(Timeout, Cancel);
        Assert.Equal(new byte[] { 42 }, other.Buffer.ToArray());
        _pipe.Input.AdvanceTo(other.Buffer.End);
        // Served while the busy connection still had data waiting, not after it had read everything.
        Assert.InRange(await readsBeforeTheOther, 1, Chunks - 1);
        busy.Shutdown(SocketShutdown.Send);
        await consumer.WaitAsync(Timeout, Cancel);
        Assert.Equal(Chunks, busyReads);
        await busyPipe.Input.CompleteAsync();
        await busyPipe.Output.CompleteAsync();
    }

    /// <summary>Reads to the end, calling <paramref name="received"/> on the thread that completed each read.</summary>
    private static async Task ConsumeAsync(ValueTask<ReadResult> read, PipeReader input, Action received)
    {
        while (true)
        {
            var result = await read.ConfigureAwait(false);
            if (!result.Buffer.IsEmpty)
                received();
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
                return;
            read = input.ReadAsync();
        }
    }

    [Fact]
    public async Task CancelPendingFlush_EndsAReadWaitingForTheLoop()
    {
        // The flush aborts by closing the socket, which the loop is never told about.
        var read = _pipe.Input.ReadAsync(Cancel).AsTask();
        _pipe.Output.Write(new byte[64 * 1024 * 1024]);
        var flush = _pipe.Output.FlushAsync(Cancel).AsTask();
        _pipe.Output.CancelPendingFlush();
        await flush.WaitAsync(Timeout, Cancel);
        var result = await read.WaitAsync(Timeout, Cancel);
        Assert.True(result.IsCanceled);
        // Kestrel may read again after aborting (EpollTransportFactory): that read meets the end, it does not wait.
        _pipe.Input.AdvanceTo(result.Buffer.End);
        var next = await _pipe.Input.ReadAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
        Assert.True(next.IsCompleted);
    }

    [Fact]
    public async Task ReadAsync_TokenFires_EndsWithOperationCanceled_AndReadingGoesOn()
    {
        // The TLS handshake's timeout (TlsPipe, and Kestrel's on wss) cancels a read this way; a Pipe would throw, not return.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var read = _pipe.Input.ReadAsync(timeout.Token).AsTask();
        Assert.False(read.IsCompleted);
        await timeout.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Timeout, Cancel));

        await _client.SendAsync(new byte[] { 7 }, SocketFlags.None, Cancel);
        var next = await _pipe.Input.ReadAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
        Assert.Equal(new byte[] { 7 }, next.Buffer.ToArray());
    }
}

/// <summary>The plain TCP transport with <c>io_threads = 0</c> (and on systems without epoll): .NET's socket engine.</summary>
public sealed class SocketPipeWithoutLoopTests() : SocketPipeTests(loops: 0);

/// <summary>
/// The plain TCP transport, on real loopback sockets: what the channel relies on from a pipe (framing across
/// receives, examined-but-not-consumed bytes, close semantics), and that a stuck or vanished peer ends in a result,
/// never a hang or an exception.
/// </summary>
public abstract class SocketPipeTests : IAsyncDisposable
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly Socket _listener;
    private readonly EpollLoop[] _loops;
    private readonly List<Socket> _clients = [];
    private protected readonly Socket _client;
    private protected readonly SocketPipe _pipe;

    protected SocketPipeTests(int loops)
    {
        _loops = EpollLoop.StartMany(loops, "test", NullLogger.Instance);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(8);
        _client = Connect(out _pipe);
    }

    /// <summary>A client socket and the pipe of the broker's side of it.</summary>
    private protected Socket Connect(out SocketPipe pipe)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(_listener.LocalEndPoint!);
        _clients.Add(client);
        pipe = new SocketPipe(_listener.Accept(), _loops.Length == 0 ? null : _loops[0]);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _pipe.Input.CompleteAsync();
        await _pipe.Output.CompleteAsync();
        foreach (var client in _clients)
            client.Dispose();
        _listener.Dispose();
        foreach (var loop in _loops)
            loop.Dispose();
        GC.SuppressFinalize(this);
    }

    protected static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Read_BytesArrivingOneAtATime_ExaminedButNotConsumed_AreKeptAndGrow()
    {
        var sent = new byte[] { 0x30, 0x05, 0, 1, (byte)'a', 1, 2 };
        ReadResult result = default;
        for (var i = 0; i < sent.Length; i++)
        {
            await _client.SendAsync(sent.AsMemory(i, 1), SocketFlags.None, Cancel);
            // Like a framer waiting for a whole packet: examine everything, consume nothing. The next read then
            // waits for a new byte and returns it after the kept ones.
            result = await ReadAtLeastAsync(i + 1);
            Assert.Equal(sent[..(i + 1)], result.Buffer.ToArray());
            if (i < sent.Length - 1)
                _pipe.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
        _pipe.Input.AdvanceTo(result.Buffer.End);
    }

    [Fact]
    public async Task Read_PacketMuchLargerThanOneBuffer_ArrivesWhole()
    {
        var big = new byte[300_000];
        Random.Shared.NextBytes(big);
        var sending = _client.SendAsync(big, SocketFlags.None, Cancel).AsTask();
        ReadResult result;
        while (true)
        {
            result = await _pipe.Input.ReadAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
            if (result.Buffer.Length >= big.Length)
                break;
            _pipe.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
        Assert.Equal(big, result.Buffer.ToArray());
        _pipe.Input.AdvanceTo(result.Buffer.End);
        await sending;
    }

    [Fact]
    public async Task Read_PartlyConsumed_RestIsReturnedAtOnce()
    {
        await _client.SendAsync(new byte[] { 1, 2, 3, 4 }, SocketFlags.None, Cancel);
        var result = await ReadAtLeastAsync(4);
        _pipe.Input.AdvanceTo(result.Buffer.GetPosition(1));
        var rest = await _pipe.Input.ReadAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
        Assert.Equal(new byte[] { 2, 3, 4 }, rest.Buffer.ToArray());
    }

    [Fact]
    public async Task Read_PeerCloses_Completes()
    {
        await _client.SendAsync(new byte[] { 7 }, SocketFlags.None, Cancel);
        _client.Shutdown(SocketShutdown.Send);
        var result = await ReadAtLeastAsync(1);
        Assert.Equal(new byte[] { 7 }, result.Buffer.ToArray());
        _pipe.Input.AdvanceTo(result.Buffer.End);
        result = await _pipe.Input.ReadAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
        Assert.True(result.IsCompleted);
        Assert.True(result.Buffer.IsEmpty);
    }

    [Fact]
    public async Task TryReadOrCallBack_NothingYet_CallsBackWithTheData_ThenReadsWhatIsThereAtOnce()
    {
        var source = (IReadCallbackSource)_pipe.Input;
        var callback = new ReadCallback();
        Assert.False(source.TryReadOrCallBack(callback, out _));

        await _client.SendAsync(new byte[] { 1, 2, 3 }, SocketFlags.None, Cancel);
        var (data, cancelled, completed) = await callback.Result.WaitAsync(Timeout, Cancel);
        Assert.Equal(new byte[] { 1, 2, 3 }, data);
        Assert.False(cancelled || completed);

        // The rest of what was read, not examined: returned at once, without a callback.
        _pipe.Input.AdvanceTo(callback.Start);
        Assert.True(source.TryReadOrCallBack(new ReadCallback(), out var rest));
        Assert.Equal(new byte[] { 1, 2, 3 }, rest.Buffer.ToArray());
        _pipe.Input.AdvanceTo(rest.Buffer.End);
    }

    [Fact]
    public async Task TryReadOrCallBack_CancelPendingRead_CallsBackCancelled()
    {
        var callback = new ReadCallback();
        Assert.False(((IReadCallbackSource)_pipe.Input).TryReadOrCallBack(callback, out _));
        _pipe.Input.CancelPendingRead();
        var (_, cancelled, _) = await callback.Result.WaitAsync(Timeout, Cancel);
        Assert.True(cancelled);
    }

    [Fact]
    public async Task TryReadOrCallBack_PeerCloses_CallsBackCompleted()
    {
        var source = (IReadCallbackSource)_pipe.Input;
        var callback = new ReadCallback();
        Assert.False(source.TryReadOrCallBack(callback, out _));
        _client.Shutdown(SocketShutdown.Send);
        var (data, _, completed) = await callback.Result.WaitAsync(Timeout, Cancel);
        Assert.Empty(data);
        Assert.True(completed);
    }

    /// <summary>Keeps the one result it is called back with (a copy: the buffer is the pipe's).</summary>
    private sealed class ReadCallback : IReadCallback
    {
        private readonly TaskCompletionSource<(byte[] Data, bool Cancelled, bool Completed)> _result =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<(byte[] Data, bool Cancelled, bool Completed)> Result => _result.Task;

        public SequencePosition Start { get; private set; }

        public void OnRead(in ReadResult result)
        {
            Start = result.Buffer.Start;
            if (!_result.TrySetResult((result.Buffer.ToArray(), result.IsCanceled, result.IsCompleted)))
                throw new InvalidOperationException("called back twice for one read");
        }
    }

    [Fact]
    public async Task CancelPendingRead_EndsOnlyThatRead_TheNextGetsWhatThePeerSends()
    {
        // As a Pipe's: Kestrel's HTTP/1 cancels a read (stopping, upgraded requests) and may read on.
        var pending = _pipe.Input.ReadAsync(Cancel).AsTask();
        _pipe.Input.CancelPendingRead();
        var cancelled = await pending.WaitAsync(Timeout, Cancel);
        Assert.True(cancelled.IsCanceled);
        Assert.False(cancelled.IsCompleted);
        _pipe.Input.AdvanceTo(cancelled.Buffer.End);

        await _client.SendAsync(new byte[] { 1, 2 }, SocketFlags.None, Cancel);
        var next = await _pipe.Input.ReadAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
        Assert.False(next.IsCanceled);
        Assert.Equal(new byte[] { 1, 2 }, next.Buffer.ToArray());
    }

    [Fact]
    public async Task CancelPendingRead_WakesAPendingRead_AndWritesStillReachThePeer()
    {
        var pending = _pipe.Input.ReadAsync(Cancel).AsTask();
        Assert.False(pending.IsCompleted);
        _pipe.Input.CancelPendingRead();
        var result = await pending.WaitAsync(Timeout, Cancel);
        Assert.True(result.IsCanceled);

        // What the channel does next: a final packet (DISCONNECT), then both sides complete.
        _pipe.Output.Write(new byte[] { 0xE0, 0x00 });
        var flush = await _pipe.Output.FlushAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
        Assert.False(flush.IsCompleted);
        await _pipe.Input.CompleteAsync();
        await _pipe.Output.CompleteAsync();

        var received = await ReceiveAllAsync();
        Assert.Equal(new byte[] { 0xE0, 0x00 }, received);
    }

    [Fact]
    public async Task Write_BatchesUntilFlush_ThenSendsInOrder()
    {
        for (var i = 0; i < 1000; i++)
            _pipe.Output.Write(BitConverter.GetBytes(i));
        Assert.Equal(4000, _pipe.Output.UnflushedBytes);
        await _pipe.Output.FlushAsync(Cancel);
        Assert.Equal(0, _pipe.Output.UnflushedBytes);
        await _pipe.Input.CompleteAsync();
        await _pipe.Output.CompleteAsync();

        var received = await ReceiveAllAsync();
        Assert.Equal(4000, received.Length);
        for (var i = 0; i < 1000; i++)
            Assert.Equal(i, BitConverter.ToInt32(received, i * 4));
    }

    [Fact]
    public async Task Flush_MoreThanTheKernelTakes_CompletesOnceThePeerHasReadIt()
    {
        var big = new byte[64 * 1024 * 1024];
        Random.Shared.NextBytes(big);
        _pipe.Output.Write(big);
        var flush = _pipe.Output.FlushAsync(Cancel).AsTask();
        // The peer has not read yet: 64 MB is more than both sides' socket buffers can hold (tcp_rmem and tcp_wmem maxima).
        Assert.False(flush.IsCompleted);
        var received = new byte[big.Length];
        var total = 0;
        while (total < big.Length)
            total += await _client.ReceiveAsync(received.AsMemory(total), SocketFlags.None, Cancel);
        var result = await flush.WaitAsync(Timeout, Cancel);
        Assert.False(result.IsCompleted);
        Assert.Equal(big, received);
    }

    [Fact]
    public async Task Read_PeerResets_CompletesWithoutThrowing()
    {
        var waiting = _pipe.Input.ReadAsync(Cancel).AsTask();
        _client.LingerState = new LingerOption(true, 0); // close with RST: the receive fails with ECONNRESET
        _client.Close();

        var result = await waiting.WaitAsync(Timeout, Cancel);

        Assert.True(result.IsCompleted);
        Assert.True(result.Buffer.IsEmpty);
    }

    [Fact]
    public async Task Flush_ToAPeerThatReset_EndsCompletedWithoutThrowing()
    {
        _client.LingerState = new LingerOption(true, 0); // close with RST
        _client.Close();
        FlushResult result = default;
        // The first send may still be accepted by the kernel; the reset shows on a later one.
        for (var i = 0; i < 100 && !result.IsCompleted; i++)
        {
            _pipe.Output.Write(new byte[1024]);
            result = await _pipe.Output.FlushAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
        }
        Assert.True(result.IsCompleted);
    }

    [Fact]
    public async Task CancelPendingFlush_PeerNotReading_AbortsTheStuckFlush()
    {
        _pipe.Output.Write(new byte[64 * 1024 * 1024]);
        var flush = _pipe.Output.FlushAsync(Cancel).AsTask();
        Assert.False(flush.IsCompleted);
        _pipe.Output.CancelPendingFlush();
        var result = await flush.WaitAsync(Timeout, Cancel);
        Assert.True(result.IsCompleted);
    }

    private async Task<ReadResult> ReadAtLeastAsync(int length)
    {
        while (true)
        {
            var result = await _pipe.Input.ReadAsync(Cancel).AsTask().WaitAsync(Timeout, Cancel);
            if (result.Buffer.Length >= length || result.IsCompleted)
                return result;
            _pipe.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private async Task<byte[]> ReceiveAllAsync()
    {
        var all = new List<byte>();
        var buffer = new byte[4096];
        while (true)
        {
            var n = await _client.ReceiveAsync(buffer, SocketFlags.None, Cancel).AsTask().WaitAsync(Timeout, Cancel);
            if (n == 0)
                return [.. all];
            all.AddRange(buffer.AsSpan(0, n).ToArray());
        }
    }
}
