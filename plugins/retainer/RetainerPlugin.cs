using Microsoft.Extensions.Logging;

namespace Broker.Plugins.Retainer;

/// <summary>
/// EMQX's retainer: keeps the last retained message of every topic (stored on <c>message.publish</c>, which it only
/// observes) and sends the matching ones to each new subscription (<c>session.subscribed</c>), in memory or also on
/// disc. See README.md.
/// </summary>
/// <remarks>
/// <para>Reload hand-over. The host starts the new instance before it stops the old one, and both see every
/// hook while they overlap. The new instance registers its hooks (holding back the changes it sees), then publishes
/// one private message, <c>$retainer/handoff</c>, through <c>message.publish</c>. The old instance's callback,
/// earlier in the chain, stops persisting and serving, writes everything it holds to the data directory, and keeps
/// the message from being routed. The new instance then reads the files, applies the changes it held back, and
/// serves. A subscription made while the new one loads is served once loading is done; one made before the
/// hand-over began is served by the old one. No object crosses between the two instances: they live in different
/// load contexts, and nothing of one may keep the other alive.</para>
/// <para>A retained message the retired predecessor still meets is forwarded: a publish whose chain was taken before the
/// successor registered has no successor in it, and the message would be delivered but never stored. The predecessor
/// publishes it to the successor in a hand-over message of its own (the successor's nonce, then the record) and waits
/// for it to be taken, so a later publish of the same client cannot overtake it.</para>
/// </remarks>
public sealed partial class RetainerPlugin : IBrokerPlugin
{
    internal const string HandoffTopic = "$retainer/handoff";
    private const int NonceLength = 16;
    private static readonly TimeSpan LogEvery = TimeSpan.FromMinutes(1);

    private readonly Lock _stateLock = new();
    private readonly List<(BrokerMessage Message, bool Remote)> _heldBack = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private State _state = State.Loading;
    private bool _handoffStarted;
    private byte[] _nonce = [];
    private byte[]? _successor; // the nonce of the instance this one handed over to
    private IPluginContext? _context;
    private ILogger _logger = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private RetainedStore? _store;
    private RetainerStorage? _storage;
    private RetainerCluster? _cluster;
    private ITimer? _clearTimer;
    private long _lastFullLog;
    private long _lastTooLargeLog;
    private int _fullSinceLog;
    private int _tooLargeSinceLog;

    private enum State
    {
        Loading,
        Active,
        Retired,
    }

    /// <inheritdoc />
    public async ValueTask StartAsync(IPluginContext context, CancellationToken cancellationToken)
    {
        var options = context.BindOptions<RetainerOptions>();
        _context = context;
        _logger = context.LoggerFactory.CreateLogger("Broker.Plugins.Retainer");
        var storage = new RetainerStorage(context.DataDirectory, options.StorageType, _logger);
        var broker = context.Broker;
        _storage = storage;
        _store = new RetainedStore(options, storage.Enqueue, count => broker.SetGauge("retained.count", count));
        _nonce = Guid.NewGuid().ToByteArray();
        _cluster = new RetainerCluster(this, context.Cluster, _logger, context.Stopping);
        context.Cluster.Listen(_cluster); // what other nodes send while this loads is held back like local changes

        context.Hooks.Register(HookPoints.MessagePublish, OnPublish, HookPriorities.Retainer);
        context.Hooks.Register(HookPoints.SessionSubscribed, OnSubscribed, HookPriorities.Retainer);
        try
        {
            lock (_stateLock)
                _handoffStarted = true;
            await broker.PublishAsync(new BrokerMessage { Topic = HandoffTopic, Payload = _nonce, IsSystem = true }, cancellationToken).ConfigureAwait(false);

            var now = context.TimeProvider.GetUtcNow();
            var restored = storage.Open(_store, now);
            lock (_stateLock)
            {
                foreach (var (message, remote) in _heldBack)
                {
                    if (remote)
                        Merge(message);
                    else
                        Store(message);
                }
                _heldBack.Clear();
                _state = State.Active;
            }
            broker.SetGauge("retained.count", _store.Count);
            _ready.TrySetResult();
            LogStarted(_logger, options.StorageType, restored);
            // Loaded into a running cluster (not at boot, when no node runs yet): compare with one node now; at boot
            // and later, every node coming up is compared with (RetainerCluster.OnNodeUp).
            if (context.Cluster.RunningNodes() is [var node, ..])
                _ = _cluster.PullAsync(node);
        }
        catch
        {
            _ready.TrySetCanceled(CancellationToken.None);
            await storage.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (options.ClearInterval > TimeSpan.Zero)
            _clearTimer = context.TimeProvider.CreateTimer(static state => ((RetainerPlugin)state!).ClearExpired(), this, options.ClearInterval, options.ClearInterval);
    }

    /// <inheritdoc />
    public async ValueTask StopAsync(CancellationToken cancellationToken)
    {
        if (_clearTimer is { } timer)
            await timer.DisposeAsync().ConfigureAwait(false);
        bool handedOver;
        lock (_stateLock)
        {
            handedOver = _state == State.Retired;
            _state = State.Retired;
        }
        if (_storage is { } storage)
        {
            // After a hand-over the files belong to the new instance: write nothing.
            if (!handedOver)
            {
                await storage.FlushAsync().ConfigureAwait(false);
                _context?.Broker.SetGauge("retained.count", 0);
            }
            await storage.DisposeAsync().ConfigureAwait(false);
        }
        _ready.TrySetCanceled(CancellationToken.None);
        _context = null;
    }

    private ValueTask<HookResult> OnPublish(MessagePublishContext hook)
    {
        var message = hook.Message;
        // Only a plugin's own system message: neither a client nor the management API can publish one.
        if (hook.Client is null && message.IsSystem && message.Topic == HandoffTopic)
            return HandOverAsync(hook);
        if (!message.Retain)
            return ValueTask.FromResult(HookResult.Continue);
        // Observed only: the message is routed as published (the core clears RETAIN for established subscriptions).
        var keeping = KeepAsync(message);
        return keeping.IsCompletedSuccessfully ? ValueTask.FromResult(HookResult.Continue) : ContinueAfterAsync(keeping);
    }

    private static async ValueTask<HookResult> ContinueAfterAsync(ValueTask keeping)
    {
        await keeping.ConfigureAwait(false);
        return HookResult.Continue;
    }

    /// <summary>Stores a retained message, holds it back while loading, or, handed over, forwards it to the successor.</summary>
    private ValueTask KeepAsync(BrokerMessage message)
    {
        byte[]? successor = null;
        lock (_stateLock)
        {
            switch (_state)
            {
                case State.Loading:
                    _heldBack.Add((message, false));
                    break;
                case State.Active:
                    Store(message);
                    break;
                default:
                    successor = _successor;
                    break;
            }
        }
        if (successor is null || _context is not { } context)
            return ValueTask.CompletedTask;
        using var stream = new MemoryStream();
        stream.Write(successor);
        RetainedRecords.Write(stream, message.Topic, message);
        var forward = new BrokerMessage { Topic = HandoffTopic, Payload = stream.ToArray(), IsSystem = true };
        var publishing = context.Broker.PublishAsync(forward, CancellationToken.None);
        return publishing.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(publishing.AsTask());
    }

    /// <summary>
    /// A reloaded instance asks for the retained messages, or a predecessor forwards one (see remarks); the message is
    /// never routed.
    /// </summary>
    private async ValueTask<HookResult> HandOverAsync(MessagePublishContext hook)
    {
        var payload = hook.Message.Payload;
        if (payload.Length > NonceLength)
        {
            // A retained message a predecessor forwarded (class remarks); one for a later instance passes on.
            if (!payload.Span[..NonceLength].SequenceEqual(_nonce))
                return HookResult.Continue;
            hook.Route = false;
            using var stream = new MemoryStream(payload[NonceLength..].ToArray(), writable: false);
            foreach (var (_, message) in RetainedRecords.ReadAll(stream, legacy: false, out _))
            {
                if (message is not null)
                    await KeepAsync(message).ConfigureAwait(false);
            }
            return HookResult.Stop;
        }
        hook.Route = false;
        bool handOver;
        lock (_stateLock)
        {
            handOver = _state == State.Active && !payload.Span.SequenceEqual(_nonce);
            if (handOver)
            {
                _state = State.Retired;
                _successor = payload.ToArray();
            }
        }
        if (handOver && _storage is { } storage)
        {
            await storage.FlushAsync().ConfigureAwait(false);
            LogHandedOver(_logger, _store!.Count);
        }
        return HookResult.Stop;
    }

    /// <summary>A retained message published on this node: stored, and sent to the other nodes. Called under the state lock.</summary>
    private void Store(BrokerMessage message)
    {
        if (Apply(message))
            _cluster!.Published(message.Topic, message);
    }

    /// <summary>Applies a message to the store; false when a limit refused it (logged).</summary>
    private bool Apply(BrokerMessage message)
    {
        switch (_store!.Apply(message))
        {
            case StoreOutcome.Full:
                LogRateLimited(ref _lastFullLog, ref _fullSinceLog, message, full: true);
                return false;
            case StoreOutcome.TooLarge:
                LogRateLimited(ref _lastTooLargeLog, ref _tooLargeSinceLog, message, full: false);
                return false;
            default:
                return true;
        }
    }

    /// <summary>A retained message or deletion from another node (<see cref="RetainerCluster"/>).</summary>
    internal void MergeRemote(BrokerMessage message)
    {
        lock (_stateLock)
        {
            if (_state == State.Loading)
                _heldBack.Add((message, true));
            else if (_state == State.Active)
                Merge(message);
            // Retired: the successor listens now.
        }
    }

    /// <summary>Keeps a message from another node when it is newer than this node's. Called under the state lock.</summary>
    private void Merge(BrokerMessage message)
    {
        if (!_cluster!.IsNewer(message, _store!.Get(message.Topic)))
            return;
        if (message.Payload.IsEmpty)
            _cluster.RememberDeleted(message.Topic, message.Timestamp);
        Apply(message);
    }

    /// <summary>Every retained message this instance holds (a node comparing with this one asks for them).</summary>
    internal List<BrokerMessage> Snapshot() => _store?.Snapshot() ?? [];

    private ValueTask<HookResult> OnSubscribed(SessionSubscribedContext hook)
    {
        // Retained messages are not sent to a shared subscription (MQTT 5 4.8.2), nor when Retain Handling says
        // not to: 2 = never, 1 = only for a subscription that did not exist [MQTT-3.3.1-9..11] (5.0).
        if (hook.ShareGroup is not null
            || hook.Options.RetainHandling == MqttRetainHandling.DoNotSend
            || (hook.Options.RetainHandling == MqttRetainHandling.SendAtSubscribeIfNew && !hook.IsNew))
            return ValueTask.FromResult(HookResult.Continue);
        State state;
        bool handoffStarted;
        lock (_stateLock)
        {
            state = _state;
            handoffStarted = _handoffStarted;
        }
        if (state == State.Active)
            Deliver(hook);
        else if (state == State.Loading && handoffStarted)
        {
            // The previous instance has stopped serving (or there is none): send once loading is done.
            _ready.Task.ContinueWith(static (task, state) =>
            {
                var (plugin, context) = ((RetainerPlugin, SessionSubscribedContext))state!;
                if (task.IsCompletedSuccessfully)
                    plugin.Deliver(context);
            }, (this, hook), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
        return ValueTask.FromResult(HookResult.Continue);
    }

    /// <summary>
    /// Sends the matching live retained messages; the core sets RETAIN [MQTT-3.3.1-8] (3.1.1) / [MQTT-3.3.1-9] (5.0),
    /// caps the QoS at the granted one and forwards the remaining Message Expiry Interval [MQTT-3.3.2-6].
    /// </summary>
    private void Deliver(SessionSubscribedContext hook)
    {
        if (_context is not { } context)
            return;
        var matches = new List<BrokerMessage>();
        _store!.Match(hook.TopicFilter, context.TimeProvider.GetUtcNow(), matches);
        foreach (var message in matches)
            hook.Deliver(message);
    }

    private void ClearExpired()
    {
        lock (_stateLock)
        {
            // A handed-over instance's store is no longer the broker's: its count must not reach the gauge.
            if (_state != State.Active)
                return;
        }
        if (_context is { } context && _store is { } store)
        {
            var removed = store.RemoveExpired(context.TimeProvider.GetUtcNow());
            if (removed > 0)
                LogExpired(_logger, removed);
        }
    }

    /// <summary>At most one line a minute per kind, counting the messages refused in between. Called under the state lock.</summary>
    private void LogRateLimited(ref long last, ref int refusedSinceLog, BrokerMessage message, bool full)
    {
        refusedSinceLog++;
        var time = _context?.TimeProvider ?? TimeProvider.System;
        var now = time.GetTimestamp();
        if (last != 0 && time.GetElapsedTime(last, now) < LogEvery)
            return;
        last = now;
        var refused = refusedSinceLog;
        refusedSinceLog = 0;
        if (full)
            LogFull(_logger, message.Topic, _store!.Count, refused);
        else
            LogTooLarge(_logger, message.Topic, message.Payload.Length, refused);
    }

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "retainer: started (storage_type {StorageType}), {Count} retained messages restored")]
    private static partial void LogStarted(ILogger logger, RetainerStorageType storageType, int count);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information, Message = "retainer: handed {Count} retained messages over to the reloaded instance")]
    private static partial void LogHandedOver(ILogger logger, int count);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "retainer: max_retained_messages reached ({Count}); retained message for new topic {Topic} not stored ({Refused} refused since the last such line)")]
    private static partial void LogFull(ILogger logger, string topic, int count, int refused);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Warning, Message = "retainer: retained message for {Topic} has a {Size}-byte payload, over max_payload_size; not stored ({Refused} refused since the last such line)")]
    private static partial void LogTooLarge(ILogger logger, string topic, int size, int refused);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Debug, Message = "retainer: removed {Count} expired retained messages")]
    private static partial void LogExpired(ILogger logger, int count);
}
