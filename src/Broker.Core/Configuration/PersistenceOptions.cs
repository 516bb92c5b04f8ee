namespace Broker.Core.Configuration;

/// <summary>Whether persistent sessions survive a restart, and how soon what they hold reaches the disk.</summary>
internal enum PersistenceMode
{
    Off,
    On,
}

/// <summary>When what sessions hold is on disk.</summary>
internal enum PersistenceSync
{
    /// <summary>Within persistence.interval: a crash loses at most that window; a clean stop loses nothing.</summary>
    Periodic,

    /// <summary>Before the QoS 1/2 PUBLISH is acknowledged (publishers waiting meanwhile share one write and fsync).</summary>
    Sync,
}

/// <summary>etc/broker.conf <c>persistence*</c>: sessions, their subscriptions and QoS 1/2 messages on disk.</summary>
internal sealed class PersistenceOptions
{
    [ConfKey("persistence", "on = persistent sessions (clean session 0 / session expiry > 0) keep their subscriptions, queued and in-flight QoS 1/2 messages and QoS 2 state across a restart or a crash; off = in memory only. Clean sessions and QoS 0 are never written.")]
    public PersistenceMode Mode { get; set; } = PersistenceMode.Off;

    [ConfKey("persistence.sync", "periodic = written within persistence.interval (a crash loses at most that window; a clean stop nothing); sync = a QoS 1/2 PUBLISH is acknowledged only once its message is on disk (publishers share one fsync).")]
    public PersistenceSync Sync { get; set; } = PersistenceSync.Periodic;

    [ConfKey("persistence.interval", "periodic mode: every change is on disk within this window (what a crash can lose). Shorter writes more: a message acknowledged within half of it is never written, and at full load 10ms wrote most messages and halved peak QoS 1 throughput (bench/README.md, Persistence on).", Unit = ConfUnit.Duration, Min = "1ms", Max = "10s")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(100);

    [ConfKey("persistence.dir", "Where the store lives, relative to the data directory.")]
    public string Directory { get; set; } = "persistence";
}
