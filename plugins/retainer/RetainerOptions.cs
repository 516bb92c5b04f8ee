namespace Broker.Plugins.Retainer;

/// <summary>Where retained messages are kept (<c>storage_type</c>).</summary>
internal enum RetainerStorageType
{
    /// <summary>
    /// In memory. Written to the data directory when the plugin stops and read back when it starts again in the same
    /// broker process (reload, unload then load); a broker restart starts empty.
    /// </summary>
    Ram,

    /// <summary>In memory and in an append-only log in the data directory: survives broker restarts.</summary>
    Disc,
}

/// <summary>etc/plugins/retainer.conf. The keys are those of EMQX 4's <c>retainer.*</c> settings.</summary>
internal sealed class RetainerOptions
{
    /// <remarks>Default <see cref="RetainerStorageType.Ram"/> (EMQX's <c>retainer.storage_type = ram</c>).</remarks>
    [ConfKey("storage_type", "Where retained messages are kept. ram: in memory, kept across reloads of the plugin but not across broker restarts. disc: also logged to data/plugins/retainer/, so they survive a restart.")]
    public RetainerStorageType StorageType { get; set; } = RetainerStorageType.Ram;

    /// <remarks>Default 0: no limit (EMQX's <c>retainer.max_retained_messages = 0</c>).</remarks>
    [ConfKey("max_retained_messages", "How many topics may hold a retained message; 0 = no limit. When full, a retained message for a new topic is not stored (logged at most once a minute); one for a topic that already has one still replaces it, and deleting still works.", Min = "0")]
    public int MaxRetainedMessages { get; set; }

    /// <remarks>Default 1MB (EMQX's <c>retainer.max_payload_size = 1MB</c>).</remarks>
    [ConfKey("max_payload_size", "A retained message with a larger payload is routed as usual but not stored; the topic keeps the retained message it had.", Unit = ConfUnit.Bytes, Min = "0")]
    public long MaxPayloadSize { get; set; } = 1024 * 1024;

    /// <remarks>Default 0: never (EMQX's <c>retainer.expiry_interval = 0</c>).</remarks>
    [ConfKey("expiry_interval", "How long a retained message without its own MQTT 5 Message Expiry Interval is kept; 0 = until replaced or deleted. A message's own expiry interval always wins.", Unit = ConfUnit.Duration, Min = "0s")]
    public TimeSpan ExpiryInterval { get; set; } = TimeSpan.Zero;

    /// <remarks>Default 1m. 0 turns the sweep off: expired messages are then removed only when a subscription finds them.</remarks>
    [ConfKey("msg_clear_interval", "How often expired retained messages are removed (and the retained count updated); 0 = only when a subscription finds them. Expired messages are never delivered either way.", Unit = ConfUnit.Duration, Min = "0s")]
    public TimeSpan ClearInterval { get; set; } = TimeSpan.FromMinutes(1);
}
