using Broker.Core.AccessControl;

namespace Broker.Core.Cluster;

/// <summary>
/// How far this node's clock is from its NATS server's, so that a time taken here (a ban made, a ban lifted) can be
/// ordered against a time the server stamped (a key-value entry's <c>Created</c>) whatever the two clocks say.
/// </summary>
/// <remarks>
/// <para>A sample is one write of this node's, bracketed by two readings of its own clock: the server stamped the write
/// somewhere between them, so <c>stamp - midpoint</c> is the offset, give or take half the round trip. The sample with
/// the shortest round trip is kept (the tightest bound); a newer one replaces it when the round trip is no longer than
/// twice the best, so a clock stepped since is followed.</para>
/// <para>With no sample the offset is zero and the bound too: the clocks are taken as they are.</para>
/// <para>Thread-safe: samples and readers may run on different threads; one sample is read whole.</para>
/// </remarks>
public sealed class ServerClock
{
    private volatile Estimate _estimate = new(TimeSpan.Zero, TimeSpan.Zero, Known: false);

    /// <summary>Server time minus this node's time (positive: the server's clock is ahead).</summary>
    public TimeSpan Offset => _estimate.Offset;

    /// <summary>How far <see cref="Offset"/> may be off: half the round trip of the sample it comes from.</summary>
    public TimeSpan Error => _estimate.Error;

    /// <summary>Whether a sample has been taken.</summary>
    public bool Known => _estimate.Known;

    /// <summary>
    /// A write of this node's: <paramref name="before"/> and <paramref name="after"/> read this node's clock around it,
    /// <paramref name="stamp"/> is the server's time of it. Returns the estimate now in force.
    /// </summary>
    public TimeSpan Sample(DateTimeOffset before, DateTimeOffset stamp, DateTimeOffset after)
    {
        if (after < before)
            (before, after) = (after, before);
        var error = (after - before) / 2;
        var offset = stamp - (before + error);
        var current = _estimate;
        if (!current.Known || error <= current.Error * 2)
            _estimate = new Estimate(offset, error, Known: true);
        return _estimate.Offset;
    }

    /// <summary>A time read from this node's clock, in the server's.</summary>
    public DateTimeOffset ToServer(DateTimeOffset local) => local + _estimate.Offset;

    /// <summary>A time the server stamped, in this node's clock.</summary>
    public DateTimeOffset ToLocal(DateTimeOffset server) => server - _estimate.Offset;

    /// <summary>
    /// Whether <paramref name="lifted"/> (lifted here, this node's time) came after a ban the server stamped at
    /// <paramref name="banWritten"/>, for certain: in doubt (within <see cref="Error"/>, or the same instant) the ban
    /// came later and stays.
    /// </summary>
    public bool LiftedAfter(LiftedBan lifted, DateTimeOffset banWritten)
    {
        var estimate = _estimate;
        return lifted.At + estimate.Offset - estimate.Error > banWritten;
    }

    /// <summary>
    /// Whether <paramref name="ban"/> (made here, this node's time) may have come after a lifting the server stamped at
    /// <paramref name="liftWritten"/>. A ban's time has whole seconds (as EMQX's API gives it), so it was made up to a
    /// second after its <see cref="Ban.At"/>; that second and <see cref="Error"/> are the doubt, and the doubt keeps the ban.
    /// </summary>
    public bool BannedAfter(Ban ban, DateTimeOffset liftWritten)
    {
        var estimate = _estimate;
        return ban.At + TimeSpan.FromSeconds(1) + estimate.Offset + estimate.Error > liftWritten;
    }

    private sealed record Estimate(TimeSpan Offset, TimeSpan Error, bool Known);
}
