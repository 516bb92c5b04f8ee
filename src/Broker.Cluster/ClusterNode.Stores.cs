using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Broker.Abstractions.Plugins;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Broker.Cluster;

/// <summary>
/// Plugins' replicated key-value stores (<see cref="IPluginCluster.OpenStoreAsync"/>): one JetStream key-value bucket
/// each, <c>&lt;cluster.name&gt;-plg-&lt;plugin&gt;-&lt;name&gt;</c>, history 1, <c>cluster.owner_replicas</c> copies, as
/// the client-id registry and the banned list.
/// </summary>
internal sealed partial class ClusterNode
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<INatsKVStore>> _pluginBuckets = new(StringComparer.Ordinal);

    /// <summary>The bucket <paramref name="bucket"/> on this node's NATS, created on first use; waits for JetStream.</summary>
    public async Task<INatsKVStore> PluginBucketAsync(string bucket, CancellationToken cancel)
    {
        var ready = new TaskCompletionSource<INatsKVStore>(TaskCreationOptions.RunContinuationsAsynchronously);
        var current = _pluginBuckets.GetOrAdd(bucket, ready);
        if (current == ready)
        {
            _ = Task.Run(async () =>
            {
                if (await OpenBucketAsync(bucket, "a plugin's replicated store (broker cluster " + _options.Name + ")", ready, _stop.Token).ConfigureAwait(false) is null)
                    ready.TrySetException(new PluginClusterException($"this node left cluster {_options.Name}"));
            }, CancellationToken.None);
        }
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancel, _stop.Token);
        return await current.Task.WaitAsync(stopping.Token).ConfigureAwait(false);
    }

    /// <summary>Watches <paramref name="bucket"/> on this node's NATS until cancelled or this node stops.</summary>
    public async IAsyncEnumerable<PluginStoreEntry> WatchPluginBucketAsync(string bucket, [EnumeratorCancellation] CancellationToken cancel)
    {
        var store = await PluginBucketAsync(bucket, cancel).ConfigureAwait(false);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancel, _stop.Token);
        await foreach (var entry in store.WatchAsync<byte[]>(cancellationToken: stopping.Token).ConfigureAwait(false))
        {
            var deleted = entry.Operation is NatsKVOperation.Del or NatsKVOperation.Purge;
            yield return new PluginStoreEntry(entry.Key, deleted ? ReadOnlyMemory<byte>.Empty : entry.Value ?? [], entry.Revision, deleted);
        }
    }
}

/// <summary>
/// A plugin's store as the plugin holds it: every call goes to the cluster this node is in at that moment
/// (<see cref="ClusterMembership.Node"/>), so the store outlives a leave and a join.
/// </summary>
internal sealed partial class PluginStore(ClusterMembership membership, string bucket) : IPluginClusterStore
{
    /// <summary>JetStream's key alphabet.</summary>
    [GeneratedRegex("^[-/_=.a-zA-Z0-9]+$")]
    private static partial Regex KeyPattern();

    /// <summary>Store names: what a bucket name allows after the prefix.</summary>
    [GeneratedRegex("^[-_a-zA-Z0-9]+$")]
    internal static partial Regex NamePattern();

    public async Task<ulong> PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
    {
        CheckKey(key);
        var store = await BucketAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await store.PutAsync(key, value.ToArray(), cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException)
        {
            throw new PluginClusterException($"writing {key} to {bucket} failed: {ex.Message}", ex);
        }
    }

    public async Task<bool> DeleteAsync(string key, ulong revision, CancellationToken cancellationToken)
    {
        CheckKey(key);
        var store = await BucketAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await store.DeleteAsync(key, new NatsKVDeleteOpts { Revision = revision }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (NatsKVWrongLastRevisionException)
        {
            return false;
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException)
        {
            throw new PluginClusterException($"deleting {key} from {bucket} failed: {ex.Message}", ex);
        }
    }

    public async IAsyncEnumerable<PluginStoreEntry> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var node = membership.Node ?? throw NotInCluster();
        var entries = node.WatchPluginBucketAsync(bucket, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                PluginStoreEntry entry;
                try
                {
                    if (!await entries.MoveNextAsync().ConfigureAwait(false))
                        break;
                    entry = entries.Current;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new PluginClusterException($"watching {bucket} ended: this node left the cluster");
                }
                catch (Exception ex) when (ex is NatsException or TimeoutException)
                {
                    throw new PluginClusterException($"watching {bucket} failed: {ex.Message}", ex);
                }
                yield return entry;
            }
        }
        finally
        {
            await entries.DisposeAsync().ConfigureAwait(false);
        }
        if (!cancellationToken.IsCancellationRequested)
            throw new PluginClusterException($"watching {bucket} ended");
    }

    private async Task<INatsKVStore> BucketAsync(CancellationToken cancellationToken)
    {
        var node = membership.Node ?? throw NotInCluster();
        try
        {
            return await node.PluginBucketAsync(bucket, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PluginClusterException($"opening {bucket} ended: this node left the cluster");
        }
    }

    private static PluginClusterException NotInCluster() => new("this node is in no cluster now");

    private static void CheckKey(string key)
    {
        if (!KeyPattern().IsMatch(key))
            throw new ArgumentException($"'{key}' is not a store key: letters, digits, '-', '_', '=', '.' and '/'", nameof(key));
    }
}
