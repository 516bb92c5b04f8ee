using System.Text;
using System.Threading.Channels;
using Broker.Abstractions;
using Broker.Abstractions.Plugins;
using Broker.Core.Tests.TestTransport;
using Broker.Plugins.DelayedPublish;
using Microsoft.Extensions.Logging.Abstractions;

namespace Broker.Plugins.Tests.DelayedPublish;

/// <summary>
/// A write to the cluster's store whose answer does not come in time: the message is either the store's (the watch
/// brought it meanwhile) or this node's alone, never both, so no two nodes publish it.
/// </summary>
public sealed class DelayedClusterTests : IAsyncDisposable
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);
    private readonly FakeStore _store = new();
    private readonly TaskCompletionSource<int> _queued = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DelayedQueue _queue;
    private readonly DelayedCluster _cluster;

    public DelayedClusterTests()
    {
        _queue = new DelayedQueue(new FakeTimeProvider(), _ => ValueTask.CompletedTask, count => _queued.TrySetResult(count), NullLogger.Instance);
        _cluster = new DelayedCluster(new StoreCluster(_store), NullLogger.Instance, TimeSpan.FromMilliseconds(300));
        _cluster.Start(_queue);
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAsync();
        await _queue.StopAsync();
    }

    private static DelayedEntry Entry() => new(DateTimeOffset.UtcNow.AddSeconds(60), new BrokerMessage
    {
        Topic = "t",
        Payload = Encoding.UTF8.GetBytes("m"),
        Qos = MqttQos.AtLeastOnce,
    });

    [Fact]
    public async Task WriteLandsAfterItsTimeout_KeptHereAlone_AndTheLateEntryDeletedFromTheStore()
    {
        _store.Answer = PutAnswer.Never;

        Assert.Null(await _cluster.TryStoreAsync(Entry(), "c"));

        var key = _store.Land(); // the write reaches the store after the publisher was answered
        Assert.Equal(key, await _store.Deleted.Task.WaitAsync(s_wait, TestContext.Current.CancellationToken));
        Assert.Equal(0, _queue.Count); // the store's copy is not queued beside the local one
    }

    [Fact]
    public async Task WriteSeenByTheWatchBeforeItsTimeout_TheStoresMessage_NotKeptHereAlone()
    {
        _store.Answer = PutAnswer.LandThenNever;
        _store.Watched = _queued.Task;

        var stored = await _cluster.TryStoreAsync(Entry(), "c");

        Assert.NotNull(stored);
        Assert.Equal((_store.LastKey, 1UL), (stored.Key, stored.Revision));
        Assert.Equal(1, _queue.Count);
        Assert.False(_store.Deleted.Task.IsCompleted);
    }

    private enum PutAnswer
    {
        /// <summary>The write does not land until <see cref="FakeStore.Land"/>; no answer.</summary>
        Never,

        /// <summary>The write lands (the watch sees it), then no answer comes.</summary>
        LandThenNever,
    }

    private sealed class FakeStore : IPluginClusterStore
    {
        private readonly Channel<PluginStoreEntry> _changes = Channel.CreateUnbounded<PluginStoreEntry>();
        private (string Key, byte[] Value) _written;
        private ulong _revision;

        public PutAnswer Answer { get; set; }

        /// <summary>With <see cref="PutAnswer.LandThenNever"/>: the put waits for this before it stops answering.</summary>
        public Task Watched { get; set; } = Task.CompletedTask;

        public string LastKey => _written.Key;

        public TaskCompletionSource<string> Deleted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task<ulong> PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
        {
            _written = (key, value.ToArray());
            if (Answer == PutAnswer.LandThenNever)
            {
                Land();
                await Watched.WaitAsync(cancellationToken);
            }
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }

        /// <summary>The last write reaches the store now: the watch sees it.</summary>
        public string Land()
        {
            _changes.Writer.TryWrite(new PluginStoreEntry(_written.Key, _written.Value, ++_revision, Deleted: false));
            return _written.Key;
        }

        public Task<bool> DeleteAsync(string key, ulong revision, CancellationToken cancellationToken)
        {
            var deleted = key == _written.Key && revision == _revision;
            if (deleted)
                Deleted.TrySetResult(key);
            return Task.FromResult(deleted);
        }

        public IAsyncEnumerable<PluginStoreEntry> WatchAsync(CancellationToken cancellationToken) => _changes.Reader.ReadAllAsync(cancellationToken);
    }

    private sealed class StoreCluster(IPluginClusterStore store) : IPluginCluster
    {
        public bool Enabled => true;

        public string NodeName => "a@127.0.0.1";

        public IReadOnlyList<string> RunningNodes() => [];

        public void Broadcast(ReadOnlyMemory<byte> message)
        {
        }

        public Task<byte[]> RequestAsync(string node, ReadOnlyMemory<byte> request, TimeSpan timeout, CancellationToken cancellationToken) =>
            throw new PluginClusterException("no other node");

        public IDisposable Listen(IPluginClusterListener listener) => new CancellationTokenSource();

        public Task<IPluginClusterStore> OpenStoreAsync(string name, CancellationToken cancellationToken) => Task.FromResult(store);
    }
}
