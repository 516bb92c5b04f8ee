using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Broker.Server.Listeners;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Broker.Server.Tests.Listeners;

/// <summary>
/// <see cref="EpollLoop"/> as the connections' writer scheduler: a writer runs on the loop that reads its connection,
/// whoever scheduled it (issue 18: where a writer runs is passed explicitly, not taken from the calling thread).
/// </summary>
public sealed class EpollLoopTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private const string LoopThread = "loop-test io 0";
    private readonly EpollLoop _loop = EpollLoop.StartMany(1, "loop-test", NullLogger.Instance)[0];
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _sockets = [];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public EpollLoopTests()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1);
    }

    [Fact]
    public async Task Schedule_OnTheLoopsThread_RunsTheWriterThere_AfterTheReadyConnectionsHaveBeenServed()
    {
        var events = new ConcurrentQueue<string>();
        var writer = new Writer(() => events.Enqueue("writer on " + Thread.CurrentThread.Name));
        var client = Register(new Target(() =>
        {
            events.Enqueue("read on " + Thread.CurrentThread.Name);
            _loop.Schedule(writer);
            events.Enqueue("scheduled");
        }));

        client.Send([1]);

        await writer.Ran.WaitAsync(Timeout, Cancel);
        Assert.Equal(["read on " + LoopThread, "scheduled", "writer on " + LoopThread], events);
    }

    [Fact]
    public async Task Schedule_FromOtherThreads_WakesTheLoop_AndRunsEveryWriterOnceOnIt()
    {
        const int Threads = 4, PerThread = 2000;
        var runs = new int[Threads * PerThread];
        var wrongThread = 0;
        var remaining = runs.Length;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = Enumerable.Range(0, runs.Length).Select(i => new Writer(() =>
        {
            Interlocked.Increment(ref runs[i]);
            if (Thread.CurrentThread.Name != LoopThread)
                Interlocked.Increment(ref wrongThread);
            if (Interlocked.Decrement(ref remaining) == 0)
                all.TrySetResult();
        })).ToArray();

        // Posted in bursts from pool threads while the loop sleeps in epoll_wait: each burst must wake it.
        await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < PerThread; i++)
                _loop.Schedule(writers[t * PerThread + i]);
        }, Cancel)));

        await all.Task.WaitAsync(Timeout, Cancel);
        Assert.All(runs, r => Assert.Equal(1, r));
        Assert.Equal(0, wrongThread);
    }

    [Fact]
    public async Task AWriterThatThrows_DoesNotEndTheLoop_TheNextWriterStillRunsOnIt()
    {
        string? ranOn = null;
        var after = new Writer(() => ranOn = Thread.CurrentThread.Name);

        _loop.Schedule(new Writer(() => throw new InvalidOperationException("a bug in a writer")));
        _loop.Schedule(after);

        await after.Ran.WaitAsync(Timeout, Cancel);
        Assert.Equal(LoopThread, ranOn);
    }

    [Fact]
    public async Task Schedule_AfterTheLoopHasStopped_RunsTheWriterOnTheThreadPool()
    {
        _loop.Dispose();
        bool? onPool = null;
        var writer = new Writer(() => onPool = Thread.CurrentThread.IsThreadPoolThread);

        _loop.Schedule(writer);

        await writer.Ran.WaitAsync(Timeout, Cancel);
        Assert.True(onPool);
    }

    /// <summary>A connected client whose server side <paramref name="target"/> is told about, by the loop.</summary>
    private Socket Register(Target target)
    {
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _sockets.Add(client);
        client.Connect(_listener.LocalEndPoint!);
        var server = _listener.Accept();
        _sockets.Add(server);
        Assert.True(_loop.TryRegister(server.Handle, target, out _));
        return client;
    }

    public void Dispose()
    {
        _loop.Dispose();
        foreach (var socket in _sockets)
            socket.Dispose();
        _listener.Dispose();
    }

    private sealed class Target(Action readable) : IReadinessTarget
    {
        public void OnReadable(bool peerClosed) => readable();
    }

    private sealed class Writer(Action run) : IThreadPoolWorkItem
    {
        private readonly TaskCompletionSource _ran = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Ran => _ran.Task;

        public void Execute()
        {
            run();
            _ran.TrySetResult();
        }
    }
}
