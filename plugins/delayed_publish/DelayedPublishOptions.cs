namespace Broker.Plugins.DelayedPublish;

/// <summary>Where pending delayed messages are kept between loads of the plugin.</summary>
internal enum DelayedStorageType
{
    /// <summary>In memory; kept across unload/reload of the plugin, lost when the broker process ends.</summary>
    Ram,

    /// <summary>In memory and in <c>data/plugins/delayed_publish/</c>; also kept across a broker restart.</summary>
    Disc,
}

/// <summary>etc/plugins/delayed_publish.conf.</summary>
internal sealed class DelayedPublishOptions
{
    /// <summary>The longest delay EMQX accepts, and the longest a .NET timer can wait in one go (2^32 - 2 ms).</summary>
    internal const long LargestDelaySeconds = 4_294_967;

    /// <remarks>Default <c>disc</c>: EMQX keeps delayed messages in a disc_copies table.</remarks>
    [ConfKey("storage_type", "Where pending delayed messages are kept. ram: in memory; they survive an unload or reload of the plugin but not a broker restart. disc: also written to data/plugins/delayed_publish/ when the plugin stops, and read back when it starts, so they survive a clean broker restart; a message whose time passed while the broker was down is published at start.")]
    public DelayedStorageType StorageType { get; set; } = DelayedStorageType.Disc;

    /// <remarks>Default 0 = unlimited (EMQX's <c>delayed.max_delayed_messages</c>).</remarks>
    [ConfKey("max_delayed_messages", "How many delayed messages may be pending at once; 0 = unlimited. A $delayed publish beyond it is dropped (MQTT 5 publishers get PUBACK/PUBREC 0x97 Quota exceeded).", Min = "0")]
    public int MaxDelayedMessages { get; set; }

    /// <remarks>Default 4294967s (about 49.7 days), EMQX's limit, which is also the most that can be set.</remarks>
    [ConfKey("max_delay", "The longest delay a publisher may ask for in $delayed/<seconds>/<topic>. A longer one is refused (MQTT 5 publishers get PUBACK/PUBREC 0x83 Implementation specific error).", Unit = ConfUnit.Duration, Min = "0s", Max = "4294967s")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(LargestDelaySeconds);

    /// <summary>max_delay in whole seconds.</summary>
    internal long MaxDelaySeconds => (long)MaxDelay.TotalSeconds;
}
