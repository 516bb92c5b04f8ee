using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Broker.Cluster;

/// <summary>
/// What this node held for a session whose client id another node owns now goes to that node rather than with the
/// session: when a node that keeps its sessions on disk restarts after its client resumed elsewhere, or a split heals
/// with the client on the other side, its session here ends (<see cref="ReconcileAsync"/>), but the messages it had
/// queued or in flight for the client, accepted and acknowledged to their publishers, are delivered into the owner's
/// session of the id, after what that one holds.
/// </summary>
/// <remarks>
/// This node tells the owner (<c>&lt;cluster&gt;.undelivered.&lt;owner&gt;</c>: a hand-over id, its own name, the
/// client id); the owner asks it for the messages (<c>&lt;cluster&gt;.held.&lt;this node&gt;</c>, an answer of any size,
/// <see cref="LargeReply"/>), delivers them and only then answers, so this node keeps them until the owner has them,
/// and tries again (<see cref="AdoptionRetryDelays"/>) while the owner runs. The owner remembers the hand-over ids it
/// took, so a notice repeated after a lost answer does not deliver them twice.
/// </remarks>
internal sealed partial class ClusterNode
{
    /// <summary>Messages held for client ids other nodes own now, by hand-over id, until their owners have them.</summary>
    private readonly ConcurrentDictionary<string, byte[]> _undelivered = new(StringComparer.Ordinal);

    /// <summary>Hand-over ids taken here (or being taken), with when: kept 10 minutes, past any repeat of their notice.</summary>
    private readonly ConcurrentDictionary<string, long> _undeliveredTaken = new(StringComparer.Ordinal);

    /// <summary>Hands <paramref name="count"/> messages of <paramref name="state"/> (the handover form) to <paramref name="owner"/>.</summary>
    private async Task HandUndeliveredAsync(string owner, string clientId, byte[] state, int count)
    {
        var id = Guid.NewGuid().ToString("N");
        _undelivered[id] = state;
        var notice = Encoding.UTF8.GetBytes(id + "\n" + NodeName + "\n" + clientId);
        using var delays = AdoptionRetryDelays().GetEnumerator();
        try
        {
            while (true)
            {
                string failure;
                try
                {
                    var reply = await _nats.RequestAsync<byte[], byte[]>(_subjects.Undelivered(_subjects.Token(owner)), notice,
                        replyOpts: new NatsSubOpts { Timeout = _options.NodeTimeout + TimeSpan.FromSeconds(4) }, cancellationToken: _stop.Token).ConfigureAwait(false);
                    if (reply.Headers?.TryGetValue(ErrorHeader, out var error) != true)
                    {
                        LogUndeliveredHanded(_logger, count, clientId, owner, Encoding.UTF8.GetString(reply.Data ?? []));
                        return;
                    }
                    failure = error.ToString();
                }
                catch (Exception ex) when (ex is NatsException or TimeoutException)
                {
                    failure = ex.Message;
                }
                var again = delays.MoveNext() && IsRunning(owner);
                LogUndeliveredNotHanded(_logger, count, clientId, owner, failure,
                    again ? $"trying again in {delays.Current.TotalSeconds:0} s" : "they are lost");
                if (!again)
                    return;
                await Task.Delay(delays.Current, _core.TimeProvider, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // This node stops: what it held goes with it, as with any session here.
        }
        finally
        {
            _undelivered.TryRemove(id, out _);
        }
    }

    /// <summary>Notices of messages other nodes hold for client ids this node owns.</summary>
    private async Task ServeUndeliveredAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_subjects.Undelivered(_subjects.Token(NodeName)), cancellationToken: cancel).ConfigureAwait(false))
        {
            if (msg.Data is { } data && Encoding.UTF8.GetString(data).Split('\n', 3) is [var id, var from, var clientId])
                _ = TakeUndeliveredAsync(msg, id, from, clientId, cancel);
        }
    }

    private async Task TakeUndeliveredAsync(NatsMsg<byte[]> notice, string id, string from, string clientId, CancellationToken cancel)
    {
        string? error = null;
        var count = 0;
        var now = _core.TimeProvider.GetTimestamp();
        foreach (var (old, at) in _undeliveredTaken)
        {
            if (at != 0 && _core.TimeProvider.GetElapsedTime(at, now) > TimeSpan.FromMinutes(10))
                _undeliveredTaken.TryRemove(KeyValuePair.Create(old, at));
        }
        if (!_undeliveredTaken.TryAdd(id, 0)) // 0: being taken
            error = _undeliveredTaken.TryGetValue(id, out var takenAt) && takenAt == 0 ? "in progress" : null; // else taken already: its answer was lost
        else
        {
            try
            {
                var held = await LargeReply.RequestAsync(_nats, _subjects.Held(_subjects.Token(from)), Encoding.UTF8.GetBytes(id),
                    _options.NodeTimeout + TimeSpan.FromSeconds(2), cancel).ConfigureAwait(false);
                if (held.Data is { Length: > 0 } state)
                {
                    count = await _core.TakeUndeliveredAsync(clientId, state).ConfigureAwait(false);
                    LogUndeliveredTaken(_logger, count, clientId, from);
                }
                _undeliveredTaken[id] = now;
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException or InvalidDataException or EndOfStreamException
                                       || (ex is OperationCanceledException && !cancel.IsCancellationRequested))
            {
                _undeliveredTaken.TryRemove(id, out _); // asked again by the next notice
                error = ex.Message;
            }
        }
        try
        {
            if (error is null)
                await notice.ReplyAsync(Encoding.UTF8.GetBytes(count.ToString(CultureInfo.InvariantCulture)), cancellationToken: cancel).ConfigureAwait(false);
            else
                await notice.ReplyAsync(Array.Empty<byte>(), headers: new NatsHeaders { [ErrorHeader] = error }, cancellationToken: cancel).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NatsException or OperationCanceledException)
        {
        }
    }

    /// <summary>Other nodes asking for what this node holds for their client ids.</summary>
    private async Task ServeHeldAsync(CancellationToken cancel)
    {
        await foreach (var msg in _nats.SubscribeAsync<byte[]>(_subjects.Held(_subjects.Token(NodeName)), cancellationToken: cancel).ConfigureAwait(false))
        {
            var held = msg.Data is { } data && _undelivered.TryGetValue(Encoding.UTF8.GetString(data), out var state) ? state : [];
            try
            {
                await LargeReply.ReplyAsync(_nats, msg, held, cancel).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsException or OperationCanceledException)
            {
            }
        }
    }

    [LoggerMessage(EventId = 2461, Level = LogLevel.Information, Message = "Cluster: {Count} message(s) this node held for client id {ClientId} handed to node {Owner}, which owns it now ({Taken} delivered into its session there)")]
    private static partial void LogUndeliveredHanded(ILogger logger, int count, string clientId, string owner, string taken);

    [LoggerMessage(EventId = 2462, Level = LogLevel.Warning, Message = "Cluster: {Count} message(s) this node holds for client id {ClientId} could not be handed to node {Owner}, which owns it now ({Error}): {Next}")]
    private static partial void LogUndeliveredNotHanded(ILogger logger, int count, string clientId, string owner, string error, string next);

    [LoggerMessage(EventId = 2463, Level = LogLevel.Information, Message = "Cluster: {Count} message(s) node {From} held for client id {ClientId} delivered into its session here")]
    private static partial void LogUndeliveredTaken(ILogger logger, int count, string clientId, string from);
}
