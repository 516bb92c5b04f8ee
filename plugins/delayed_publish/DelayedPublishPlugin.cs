using Microsoft.Extensions.Logging;

namespace Broker.Plugins.DelayedPublish;

/// <summary>
/// EMQX's delayed publish: a PUBLISH to <c>$delayed/&lt;seconds&gt;/&lt;topic&gt;</c> is not routed; the same message
/// (payload, QoS, retain flag, MQTT 5 properties, publisher) is published to <c>&lt;topic&gt;</c> when the delay has
/// passed. See README.md for the topic syntax, the reason codes and what happens to pending messages on unload,
/// reload and restart.
/// </summary>
/// <remarks>
/// <para>Hand-over on reload. The host starts the new instance before it stops the old one, and both are in the
/// <c>message.publish</c> chain for a moment, the old one first. The last thing <see cref="StartAsync"/> does is
/// publish a hand-over message (<see cref="HandoffTopic"/>, no publisher, payload = this instance's nonce) through
/// the chain. A running predecessor meets it first: it seals its queue (from then on it passes every
/// <c>$delayed/</c> message on to the next callback, which is the new instance) and writes everything it had pending
/// into the message's payload. The new instance then meets its own nonce, takes the payload and stops the message,
/// so it is never routed. Nothing goes through disk and no message is owned by two instances. Without a
/// predecessor the nonce comes back alone, and the instance reads what the last one that was unloaded wrote to
/// <c>data/plugins/delayed_publish/pending.bin</c>.</para>
/// <para>A <c>$delayed/</c> message the sealed predecessor still meets is not passed on down the chain: a publish
/// whose chain was taken before the successor registered has no successor in it, and the message would be routed to
/// its literal topic and lost. The predecessor accepts it and forwards it to the successor in a hand-over message of
/// its own (the successor's nonce, then the one entry), which the successor adds to its queue.</para>
/// </remarks>
public sealed partial class DelayedPublishPlugin : IBrokerPlugin
{
    /// <summary>The topic of the hand-over message between two instances (never routed; clients cannot forge it: theirs is a malformed $delayed topic).</summary>
    internal const string HandoffTopic = "$delayed/handoff";

    private const int NonceLength = 16;

    private readonly byte[] _nonce = Guid.NewGuid().ToByteArray();
    private IPluginContext? _context;
    private DelayedPublishOptions _options = new();
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private DelayedQueue? _queue;
    private DelayedCluster? _cluster;       // in a cluster: messages kept in its replicated store (DelayedCluster)
    private string _file = "";
    private volatile bool _takenOver;      // a predecessor handed its messages to this instance
    private int _inheritedCount;
    private int _inheritedOverdue;
    private volatile bool _handedOver;
    private byte[]? _successor;           // the nonce of the instance this one handed over to
    private readonly List<Task> _forwards = [];

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        _options = context.BindOptions<DelayedPublishOptions>();
        _context = context;
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins.DelayedPublish");
        _file = Path.Combine(context.DataDirectory, DelayedStore.FileName);
        var broker = context.Broker;
        // Plugins start before the node joins its cluster (and it may join or leave later): each publish looks.
        var shared = _cluster = new DelayedCluster(context.Cluster, _logger);
        _queue = new DelayedQueue(
            context.TimeProvider,
            async message => await broker.PublishAsync(message).ConfigureAwait(false),
            count => broker.SetGauge("delayed.count", count),
            _logger,
            shared.ClaimAsync);
        context.Hooks.Register(HookPoints.MessagePublish, OnPublish, HookPriorities.DelayedPublish);

        // Last, and not cancellable: once a predecessor has handed its messages over, this instance must run.
        await broker.PublishAsync(new BrokerMessage { Topic = HandoffTopic, Payload = _nonce, IsSystem = true }, CancellationToken.None).ConfigureAwait(false);
        if (_takenOver)
        {
            LogStarted(_logger, _options.StorageType, Volatile.Read(ref _inheritedCount), "the previous instance", Volatile.Read(ref _inheritedOverdue));
        }
        else
        {
            var restored = LoadFile();
            var now = context.TimeProvider.GetUtcNow();
            _queue.Restore(restored);
            LogStarted(_logger, _options.StorageType, restored.Count, _file, restored.Count(e => e.Due <= now));
        }
        _queue.Start();
        shared.Start(_queue);
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (_queue is not { } queue)
            return;
        var pending = await queue.StopAsync().ConfigureAwait(false);
        if (_cluster is { } shared)
        {
            await shared.StopAsync().ConfigureAwait(false);
            pending = LocalOnly(pending); // the cluster's store keeps the others
        }
        if (_handedOver)
        {
            Task[] forwards;
            lock (_forwards)
                forwards = [.. _forwards];
            await Task.WhenAll(forwards).ConfigureAwait(false);
            return; // the successor has them, and owns the gauge
        }
        try
        {
            DelayedStore.Save(_file, pending);
            LogSaved(_logger, pending.Count, _file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogSaveFailed(_logger, ex, pending.Count, _file);
        }
        _context?.Broker.SetGauge("delayed.count", 0);
        _context = null;
    }

    /// <summary>The entries this node alone holds (accepted while the cluster's store did not answer).</summary>
    private static List<DelayedEntry> LocalOnly(List<DelayedEntry> entries) => entries.FindAll(static e => e.Key is null);

    private ValueTask<HookResult> OnPublish(MessagePublishContext hook)
    {
        var message = hook.Message;
        if (!message.Topic.StartsWith(DelayedTopic.Prefix, StringComparison.Ordinal))
            return ValueTask.FromResult(HookResult.Continue);
        var queue = _queue!;
        // Only a plugin's own system message: neither a client nor the management API can publish one.
        if (hook.Client is null && message.IsSystem && message.PublisherId is null && message.Topic == HandoffTopic && message.Payload.Length >= NonceLength)
            return ValueTask.FromResult(OnHandoff(hook, queue));
        if (queue.IsSealed && _successor is null)
            return ValueTask.FromResult(HookResult.Continue); // unloading, with no successor: no longer delayed

        var clientId = hook.Client?.ClientId;
        switch (DelayedTopic.Parse(message.Topic, _options.MaxDelaySeconds, out var delay, out var target))
        {
            case DelayedTopicResult.Malformed:
                LogMalformed(_logger, clientId, message.Topic);
                return Refuse(hook, MqttReasonCode.TopicNameInvalid);
            case DelayedTopicResult.TooLong:
                LogTooLong(_logger, clientId, message.Topic, _options.MaxDelaySeconds);
                return Refuse(hook, MqttReasonCode.ImplementationSpecificError);
        }

        var due = _context!.TimeProvider.GetUtcNow() + TimeSpan.FromSeconds(delay);
        var entry = new DelayedEntry(due, message with { Topic = target });
        if (_cluster is { Enabled: true } shared)
            return ScheduleSharedAsync(hook, queue, shared, entry, clientId);
        switch (queue.TrySchedule(entry.Message, due, _options.MaxDelayedMessages))
        {
            case ScheduleResult.Full:
                LogFull(_logger, clientId, message.Topic, _options.MaxDelayedMessages);
                return Refuse(hook, MqttReasonCode.QuotaExceeded);
            case ScheduleResult.Sealed:
                Forward([entry]); // handed over meanwhile: the successor keeps it
                break;
        }
        hook.Route = false;
        hook.ReasonCode = MqttReasonCode.Success;
        return ValueTask.FromResult(HookResult.Stop);
    }

    /// <summary>In a cluster: the message goes to the replicated store before it is acknowledged (see <see cref="DelayedCluster"/>).</summary>
    private async ValueTask<HookResult> ScheduleSharedAsync(MessagePublishContext hook, DelayedQueue queue, DelayedCluster shared, DelayedEntry entry, string? clientId)
    {
        if (_options.MaxDelayedMessages > 0 && queue.Count >= _options.MaxDelayedMessages)
        {
            LogFull(_logger, clientId, hook.Message.Topic, _options.MaxDelayedMessages);
            return await Refuse(hook, MqttReasonCode.QuotaExceeded).ConfigureAwait(false);
        }
        var stored = await shared.TryStoreAsync(entry, clientId).ConfigureAwait(false);
        if (queue.TrySchedule(stored ?? entry, 0) == ScheduleResult.Sealed && stored is null)
            Forward([entry]); // handed over meanwhile: the successor keeps it (a stored one its own watch brings)
        hook.Route = false;
        hook.ReasonCode = MqttReasonCode.Success;
        return HookResult.Stop;
    }

    private static ValueTask<HookResult> Refuse(MessagePublishContext hook, MqttReasonCode reason)
    {
        hook.Route = false;
        hook.ReasonCode = reason;
        return ValueTask.FromResult(HookResult.Stop);
    }

    /// <summary>The hand-over message (see the class remarks): ours coming back, or a successor's hello.</summary>
    private HookResult OnHandoff(MessagePublishContext hook, DelayedQueue queue)
    {
        var payload = hook.Message.Payload;
        if (payload.Span[..NonceLength].SequenceEqual(_nonce))
        {
            // The predecessor's messages, at start; later, single messages it was still given (class remarks).
            if (payload.Length > NonceLength)
            {
                _takenOver = true;
                List<DelayedEntry> entries;
                try
                {
                    using var stream = new MemoryStream(payload[NonceLength..].ToArray(), writable: false);
                    entries = DelayedStore.Read(stream, out _);
                }
                catch (InvalidDataException ex)
                {
                    LogHandoffUnreadable(_logger, ex);
                    entries = [];
                }
                var now = _context!.TimeProvider.GetUtcNow();
                Interlocked.Add(ref _inheritedCount, entries.Count);
                Interlocked.Add(ref _inheritedOverdue, entries.Count(e => e.Due <= now));
                if (!queue.TryRestore(entries))
                    Forward(entries); // this instance has been replaced meanwhile: on to its successor
            }
            hook.Route = false;
            return HookResult.Stop;
        }
        if (queue.IsSealed)
            return HookResult.Continue;
        _successor = payload[..NonceLength].ToArray();
        var pending = queue.Seal();
        pending = LocalOnly(pending); // the successor takes the store's (a cluster's) from the store
        _handedOver = true;
        using (var stream = new MemoryStream())
        {
            stream.Write(payload.Span[..NonceLength]);
            DelayedStore.Write(stream, pending);
            hook.Message = hook.Message with { Payload = stream.ToArray() };
        }
        LogHandedOver(_logger, pending.Count);
        return HookResult.Continue;
    }

    /// <summary>Publishes <paramref name="entries"/> to the successor in a hand-over message addressed to it.</summary>
    private void Forward(List<DelayedEntry> entries)
    {
        using var stream = new MemoryStream();
        stream.Write(_successor);
        DelayedStore.Write(stream, entries);
        var message = new BrokerMessage { Topic = HandoffTopic, Payload = stream.ToArray(), IsSystem = true };
        var forwarding = _context!.Broker.PublishAsync(message, CancellationToken.None).AsTask();
        lock (_forwards)
            _forwards.Add(forwarding);
    }

    /// <summary>What the last unloaded instance left; in ram mode only if it was this broker process.</summary>
    private List<DelayedEntry> LoadFile()
    {
        try
        {
            var entries = DelayedStore.Load(_file, out var process);
            if (_options.StorageType == DelayedStorageType.Ram)
            {
                if (process is not null && process != DelayedStore.CurrentProcess)
                {
                    LogDroppedFromEarlierRun(_logger, entries.Count, _file);
                    entries = [];
                }
                // In memory from now on; a file left behind would come back after a restart.
                File.Delete(_file);
            }
            return entries;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            var aside = _file + ".unreadable";
            LogLoadFailed(_logger, ex, _file, aside);
            try
            {
                File.Move(_file, aside, overwrite: true);
            }
            catch (Exception moveEx) when (moveEx is IOException or UnauthorizedAccessException)
            {
                // Reported above; the next stop overwrites it.
            }
            return [];
        }
    }

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "delayed_publish: started (storage_type {StorageType}), {Count} pending messages taken over from {Source}, {Overdue} of them overdue (published now)")]
    private static partial void LogStarted(ILogger logger, DelayedStorageType storageType, int count, string source, int overdue);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "delayed_publish: {Count} pending messages handed over to the new instance")]
    private static partial void LogHandedOver(ILogger logger, int count);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "delayed_publish: {Count} pending messages saved to {File}")]
    private static partial void LogSaved(ILogger logger, int count, string file);

    [LoggerMessage(EventId = 13, Level = LogLevel.Error, Message = "delayed_publish: could not save {Count} pending messages to {File}; they are lost")]
    private static partial void LogSaveFailed(ILogger logger, Exception exception, int count, string file);

    [LoggerMessage(EventId = 14, Level = LogLevel.Error, Message = "delayed_publish: cannot read {File}; its messages are not published (file moved to {Aside})")]
    private static partial void LogLoadFailed(ILogger logger, Exception exception, string file, string aside);

    [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "delayed_publish: storage_type is ram: {Count} pending messages in {File} from an earlier broker run are dropped")]
    private static partial void LogDroppedFromEarlierRun(ILogger logger, int count, string file);

    [LoggerMessage(EventId = 16, Level = LogLevel.Error, Message = "delayed_publish: the previous instance's hand-over could not be read; its messages are lost")]
    private static partial void LogHandoffUnreadable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 20, Level = LogLevel.Debug, Message = "delayed_publish: {ClientId} published to {Topic}, which is not $delayed/<seconds>/<topic name>; dropped")]
    private static partial void LogMalformed(ILogger logger, string? clientId, string topic);

    [LoggerMessage(EventId = 21, Level = LogLevel.Debug, Message = "delayed_publish: {ClientId} published to {Topic}: delay above max_delay ({MaxDelay}s); dropped")]
    private static partial void LogTooLong(ILogger logger, string? clientId, string topic, long maxDelay);

    [LoggerMessage(EventId = 22, Level = LogLevel.Debug, Message = "delayed_publish: {ClientId} published to {Topic}, but max_delayed_messages ({Max}) are pending; dropped")]
    private static partial void LogFull(ILogger logger, string? clientId, string topic, int max);
}
