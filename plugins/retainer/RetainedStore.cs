namespace Broker.Plugins.Retainer;

/// <summary>What <see cref="RetainedStore.Apply"/> did with a retained PUBLISH.</summary>
internal enum StoreOutcome
{
    /// <summary>Stored for a topic that had no retained message.</summary>
    Added,
    /// <summary>Replaced the topic's retained message.</summary>
    Replaced,
    /// <summary>A zero-length payload removed the topic's retained message.</summary>
    Deleted,
    /// <summary>A zero-length payload for a topic without a retained message: nothing to do.</summary>
    NothingToDelete,
    /// <summary>Not stored: the payload is larger than <c>max_payload_size</c>.</summary>
    TooLarge,
    /// <summary>Not stored: a new topic while <c>max_retained_messages</c> topics are held.</summary>
    Full,
}

/// <summary>
/// The retained messages of one plugin instance: the <see cref="RetainedIndex"/> behind one lock, the limits of
/// retainer.conf, expiry, and a change feed for persistence and the <c>retained.count</c> gauge.
/// </summary>
/// <remarks>
/// Every change is reported to <c>changed</c> while the lock is held, so a persistence queue receives changes in
/// exactly the order the index applied them. Retained PUBLISHes are rare next to ordinary ones and SUBSCRIBEs do a
/// short trie walk, so one lock is simpler than a reader/writer lock and not a bottleneck.
/// </remarks>
internal sealed class RetainedStore
{
    private readonly Lock _lock = new();
    private readonly RetainedIndex _index = new();
    private readonly int _maxMessages;
    private readonly long _maxPayloadSize;
    private readonly TimeSpan _defaultExpiry;
    private readonly Action<string, BrokerMessage?>? _changed;
    private readonly Action<int>? _countChanged;

    /// <param name="options">The limits.</param>
    /// <param name="changed">Called, under the lock, with (topic, message) for a store and (topic, null) for a removal.</param>
    /// <param name="countChanged">Called, under the lock, with the new number of retained messages whenever it changes.</param>
    public RetainedStore(RetainerOptions options, Action<string, BrokerMessage?>? changed = null, Action<int>? countChanged = null)
    {
        _maxMessages = options.MaxRetainedMessages;
        _maxPayloadSize = options.MaxPayloadSize;
        _defaultExpiry = options.ExpiryInterval;
        _changed = changed;
        _countChanged = countChanged;
    }

    /// <summary>The number of retained messages (expired ones included until they are found or swept).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
                return _index.Count;
        }
    }

    /// <summary>
    /// Applies a PUBLISH with RETAIN set: a zero-length payload removes the topic's retained message
    /// [MQTT-3.3.1-10] (3.1.1), [MQTT-3.3.1-6] (5.0), and is itself never stored [MQTT-3.3.1-11] (3.1.1),
    /// [MQTT-3.3.1-7] (5.0); any other payload replaces it [MQTT-3.3.1-5] (3.1.1/5.0).
    /// </summary>
    public StoreOutcome Apply(BrokerMessage message)
    {
        if (message.Payload.IsEmpty)
        {
            lock (_lock)
            {
                if (!_index.Remove(message.Topic))
                    return StoreOutcome.NothingToDelete;
                _changed?.Invoke(message.Topic, null);
                _countChanged?.Invoke(_index.Count);
                return StoreOutcome.Deleted;
            }
        }
        if (message.Payload.Length > _maxPayloadSize)
            return StoreOutcome.TooLarge;
        // Stored as a retained message whatever the flag said, so a copy made elsewhere cannot lose it.
        var stored = message.Retain ? message : message with { Retain = true };
        lock (_lock)
        {
            if (_maxMessages > 0 && _index.Count >= _maxMessages && _index.Get(message.Topic) is null)
                return StoreOutcome.Full;
            var added = _index.Set(message.Topic, stored);
            _changed?.Invoke(message.Topic, stored);
            if (added)
                _countChanged?.Invoke(_index.Count);
            return added ? StoreOutcome.Added : StoreOutcome.Replaced;
        }
    }

    /// <summary>The retained message of <paramref name="topic"/>, expired or not; null when there is none.</summary>
    public BrokerMessage? Get(string topic)
    {
        lock (_lock)
            return _index.Get(topic);
    }

    /// <summary>
    /// Restores a message read from the data directory: no limits (they apply to new messages), expired ones skipped.
    /// Null removes the topic (a delete record of the log).
    /// </summary>
    public void Restore(string topic, BrokerMessage? message, DateTimeOffset now)
    {
        lock (_lock)
        {
            var changed = message is null || IsExpired(message, now) ? _index.Remove(topic) : _index.Set(topic, message);
            if (changed)
                _countChanged?.Invoke(_index.Count);
        }
    }

    /// <summary>
    /// Adds the live retained messages matching <paramref name="filter"/> to <paramref name="into"/>; expired ones
    /// are removed instead of returned.
    /// </summary>
    public void Match(string filter, DateTimeOffset now, List<BrokerMessage> into)
    {
        lock (_lock)
        {
            var start = into.Count;
            _index.Match(filter, into);
            for (var i = into.Count - 1; i >= start; i--)
            {
                if (IsExpired(into[i], now))
                {
                    RemoveLocked(into[i].Topic);
                    into.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Removes every expired message; returns how many.</summary>
    public int RemoveExpired(DateTimeOffset now)
    {
        var all = new List<BrokerMessage>();
        lock (_lock)
        {
            _index.CollectAll(all);
            var removed = 0;
            foreach (var message in all)
            {
                if (IsExpired(message, now))
                {
                    RemoveLocked(message.Topic);
                    removed++;
                }
            }
            return removed;
        }
    }

    /// <summary>Every retained message, for a snapshot. <paramref name="whileLocked"/> runs before the lock is released.</summary>
    public List<BrokerMessage> Snapshot(Action? whileLocked = null)
    {
        var all = new List<BrokerMessage>();
        lock (_lock)
        {
            _index.CollectAll(all);
            whileLocked?.Invoke();
        }
        return all;
    }

    /// <summary>
    /// Whether a stored message has expired: its own MQTT 5 Message Expiry Interval when it has one, else
    /// <c>expiry_interval</c> (0 = never).
    /// </summary>
    public bool IsExpired(BrokerMessage message, DateTimeOffset now) => message.MessageExpiryInterval is not null
        ? message.IsExpired(now)
        : _defaultExpiry > TimeSpan.Zero && now - message.Timestamp >= _defaultExpiry;

    private void RemoveLocked(string topic)
    {
        if (_index.Remove(topic))
        {
            _changed?.Invoke(topic, null);
            _countChanged?.Invoke(_index.Count);
        }
    }
}
