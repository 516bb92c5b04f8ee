using System.IO.Compression;
using Microsoft.Extensions.Logging;

namespace Broker.Plugins.AuthBuiltin;

/// <summary>
/// The same user and rule database on every node of a cluster (issue 24 item 5; EMQX's auth_mnesia tables are
/// replicated): after each change here the whole database, stamped with the time and node of the change, is sent to
/// every other node (<see cref="IPluginCluster.Broadcast"/>, gzip'd), which takes it when it is newer than its own;
/// when a node comes up, both ask each other for theirs. The unit is the whole database, so of two changes made on two
/// nodes within the moment it takes to cross, the later one wins and the other is lost (see README). A database too
/// large for one cluster message is not broadcast: an empty message says it changed, and each node asks for it (a
/// request's answer may be any size).
/// </summary>
internal sealed partial class BuiltinCluster(BuiltinStore store, IPluginContext context, ILogger logger) : IPluginClusterListener
{
    /// <summary>Over this (compressed), a database is not broadcast but asked for: NATS refuses messages over 1 MB by default.</summary>
    internal const int MaxBytes = 900 * 1024;

    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>After a change here: the other nodes get the database.</summary>
    public void Changed()
    {
        if (!context.Cluster.Enabled)
            return;
        var packed = Pack(store.Export());
        context.Cluster.Broadcast(packed.Length > MaxBytes ? ReadOnlyMemory<byte>.Empty : packed);
    }

    /// <inheritdoc />
    public ValueTask OnMessageAsync(string fromNode, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (message.IsEmpty)
            _ = PullAsync(fromNode); // changed there, and too large to broadcast
        else
            Take(fromNode, message);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<byte[]> OnRequestAsync(string fromNode, ReadOnlyMemory<byte> request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Pack(store.Export()));

    /// <inheritdoc />
    public void OnNodeUp(string node) => _ = PullAsync(node);

    /// <summary>Asks <paramref name="node"/> for its database and takes it when newer (a few tries: it may not listen yet).</summary>
    public async Task PullAsync(string node)
    {
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            try
            {
                Take(node, await context.Cluster.RequestAsync(node, ReadOnlyMemory<byte>.Empty, RequestTimeout, context.Stopping).ConfigureAwait(false));
                return;
            }
            catch (PluginClusterException ex)
            {
                LogPullFailed(logger, node, ex.Message, attempt < 3 ? "asking again" : "giving up until it comes up again");
                if (attempt < 3)
                    await Task.Delay(TimeSpan.FromSeconds(attempt), context.TimeProvider, context.Stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.Stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void Take(string node, ReadOnlyMemory<byte> packed)
    {
        try
        {
            if (!store.Import(Unpack(packed)))
                return;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            LogBadDatabase(logger, node, ex.Message);
            return;
        }
        var data = store.Current;
        LogTaken(logger, node, data.Usernames.Count, data.ClientIds.Count, data.Rules.Count);
        context.Broker.InvalidateAuthorization(); // cached decisions were made on the old rules
    }

    private static byte[] Pack(byte[] json)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write(json);
        return output.ToArray();
    }

    private static byte[] Unpack(ReadOnlyMemory<byte> packed)
    {
        using var input = new MemoryStream(packed.ToArray(), writable: false);
        using var gzip = new GZipStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        gzip.CopyTo(output);
        return output.ToArray();
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "auth_builtin: took the newer database of node {Node}: {Users} user name(s), {ClientIds} client id(s), {Rules} ACL rule(s)")]
    private static partial void LogTaken(ILogger logger, string node, int users, int clientIds, int rules);

    [LoggerMessage(EventId = 11, Level = LogLevel.Warning, Message = "auth_builtin: could not ask node {Node} for its database ({Reason}); {Next}")]
    private static partial void LogPullFailed(ILogger logger, string node, string reason, string next);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "auth_builtin: the database of node {Node} cannot be read: {Reason}")]
    private static partial void LogBadDatabase(ILogger logger, string node, string reason);
}
