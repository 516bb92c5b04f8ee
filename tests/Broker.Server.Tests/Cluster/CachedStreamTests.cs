using Broker.Cluster;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Xunit;

namespace Broker.Server.Tests.Cluster;

/// <summary>
/// The client-id registry's stream, kept between reads (<see cref="CachedStream{TStream}"/>): dropped and looked up
/// again when JetStream says "stream not found" (the bucket deleted, or created again), kept on "no message".
/// Streams here are strings naming each look-up.
/// </summary>
public sealed class CachedStreamTests
{
    private static NatsJSApiException Error(int errCode, string description) =>
        new(new ApiError { Code = 404, ErrCode = errCode, Description = description });

    private static readonly NatsJSApiException StreamNotFound = Error(10059, "stream not found");
    private static readonly NatsJSApiException NoMessage = Error(10037, "no message found");

    private sealed class LookUps
    {
        public int Count;

        public ValueTask<string> NextAsync(CancellationToken cancel) => ValueTask.FromResult("stream-" + Interlocked.Increment(ref Count));
    }

    [Fact]
    public async Task ReadAsync_TwoReads_LooksTheStreamUpOnce()
    {
        var lookUps = new LookUps();
        var cached = new CachedStream<string>(lookUps.NextAsync);

        Assert.Equal("stream-1", await cached.ReadAsync(s => Task.FromResult(s), TestContext.Current.CancellationToken));
        Assert.Equal("stream-1", await cached.ReadAsync(s => Task.FromResult(s), TestContext.Current.CancellationToken));
        Assert.Equal(1, lookUps.Count);
    }

    [Fact]
    public async Task ReadAsync_StreamNotFound_DropsTheStreamAndReadsAgainFromANewLookUp()
    {
        var lookUps = new LookUps();
        var cached = new CachedStream<string>(lookUps.NextAsync);
        await cached.ReadAsync(s => Task.FromResult(s), TestContext.Current.CancellationToken);

        // The bucket was created again: the stream held is unknown to JetStream, the one looked up again answers.
        var read = await cached.ReadAsync(s => s == "stream-1" ? Task.FromException<string>(StreamNotFound) : Task.FromResult("read on " + s),
            TestContext.Current.CancellationToken);

        Assert.Equal("read on stream-2", read);
        Assert.Equal("stream-2", cached.Held);
        Assert.Equal("stream-2", await cached.ReadAsync(s => Task.FromResult(s), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task ReadAsync_StreamStillNotFound_ThrowsAndTheNextReadLooksItUpAgain()
    {
        var lookUps = new LookUps();
        var cached = new CachedStream<string>(lookUps.NextAsync);
        await cached.ReadAsync(s => Task.FromResult(s), TestContext.Current.CancellationToken);

        // Deleted and not created again (yet): the caller hears so (the registry does not answer).
        var thrown = await Assert.ThrowsAsync<NatsJSApiException>(() => cached.ReadAsync<string>(_ => throw StreamNotFound, TestContext.Current.CancellationToken));
        Assert.Equal(10059, thrown.Error.ErrCode);
        Assert.Equal(2, lookUps.Count);

        Assert.Null(cached.Held);

        // Created again meanwhile: the next read looks it up again and reads, without a stale stream in the way.
        Assert.Equal("stream-3", await cached.ReadAsync(s => Task.FromResult(s), TestContext.Current.CancellationToken));
        Assert.Equal(3, lookUps.Count);
    }

    [Fact]
    public async Task ReadAsync_NoMessage_KeepsTheStreamAndLetsTheCallerHandleIt()
    {
        var lookUps = new LookUps();
        var cached = new CachedStream<string>(lookUps.NextAsync);

        var thrown = await Assert.ThrowsAsync<NatsJSApiException>(() => cached.ReadAsync<string>(_ => throw NoMessage, TestContext.Current.CancellationToken));

        Assert.Equal(10037, thrown.Error.ErrCode);
        Assert.Equal(1, lookUps.Count);
        Assert.Equal("stream-1", cached.Held);
    }
}
