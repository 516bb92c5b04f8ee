using Broker.Core.AccessControl;
using Broker.Core.Cluster;
using Broker.Core.Tests.AccessControl;
using Xunit;

namespace Broker.Core.Tests.Cluster;

/// <summary>
/// "Which came first" between a ban change made on this node (its clock, a skewed <see cref="TimeProvider"/> here) and
/// the cluster bucket's entry (the NATS server's stamp). Each case is one where comparing the two clocks as they are
/// picks the wrong winner; the raw comparison is asserted too, so the case is known to be one.
/// </summary>
public sealed class ServerClockTests
{
    // The NATS server's clock is the true time here; the node's ManualTimeProvider is set off from it by a skew.
    private static readonly DateTimeOffset ServerStart = new(2026, 12, 7, 8, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan RoundTrip = TimeSpan.FromMilliseconds(4);

    /// <summary>A node whose clock reads server time + <paramref name="ahead"/>, and its estimate from one write at the start.</summary>
    private static (ManualTimeProvider Node, ServerClock Clock) NodeSkewed(TimeSpan ahead)
    {
        var node = new ManualTimeProvider();
        node.Advance(ServerStart + ahead - node.GetUtcNow());
        var clock = new ServerClock();
        var before = node.GetUtcNow();
        node.Advance(RoundTrip);
        clock.Sample(before, ServerStart + RoundTrip / 2, node.GetUtcNow()); // the server stamped the write halfway
        return (node, clock);
    }

    private static LiftedBan LiftOn(ManualTimeProvider node, string who)
    {
        var list = new BannedList(node, null);
        list.Add(new Ban(BanKind.ClientId, who, "test", "tests", node.GetUtcNow(), node.GetUtcNow() + TimeSpan.FromHours(1)));
        Assert.True(list.Remove(BanKind.ClientId, who));
        return Assert.Single(list.Lifted());
    }

    [Fact]
    public void LiftedAfter_NodeClockBehindServer_LiftingMadeAfterTheBanWins()
    {
        var (node, clock) = NodeSkewed(-TimeSpan.FromMinutes(2));
        var banWritten = ServerStart + TimeSpan.FromSeconds(10); // another node bans again (server's stamp) ...
        node.Advance(TimeSpan.FromSeconds(30));                  // ... and 20 s after it, this node lifts the ban
        var lifted = LiftOn(node, "c1");

        Assert.True(lifted.At < banWritten, "the raw clocks would keep the ban");
        Assert.True(clock.LiftedAfter(lifted, banWritten));
    }

    [Fact]
    public void LiftedAfter_NodeClockAheadOfServer_BanMadeAfterTheLiftingWins()
    {
        var (node, clock) = NodeSkewed(TimeSpan.FromMinutes(2));
        node.Advance(TimeSpan.FromSeconds(10));                  // this node lifts the ban ...
        var lifted = LiftOn(node, "c1");
        var banWritten = ServerStart + TimeSpan.FromSeconds(30); // ... and 20 s later another node bans again

        Assert.True(lifted.At > banWritten, "the raw clocks would lift the later ban");
        Assert.False(clock.LiftedAfter(lifted, banWritten));
    }

    [Fact]
    public void BannedAfter_NodeClockBehindServer_BanMadeAfterTheLiftingIsKept()
    {
        var (node, clock) = NodeSkewed(-TimeSpan.FromMinutes(2));
        var liftWritten = ServerStart + TimeSpan.FromSeconds(10);
        node.Advance(TimeSpan.FromSeconds(30));
        var ban = new Ban(BanKind.ClientId, "c1", "test", "tests", node.GetUtcNow(), node.GetUtcNow() + TimeSpan.FromHours(1));

        Assert.True(ban.At < liftWritten, "the raw clocks would let the lifting win");
        Assert.True(clock.BannedAfter(ban, liftWritten));
    }

    [Fact]
    public void BannedAfter_NodeClockAheadOfServer_LiftingMadeAfterTheBanWins()
    {
        var (node, clock) = NodeSkewed(TimeSpan.FromMinutes(2));
        node.Advance(TimeSpan.FromSeconds(10));
        var ban = new Ban(BanKind.ClientId, "c1", "test", "tests", node.GetUtcNow(), node.GetUtcNow() + TimeSpan.FromHours(1));
        var liftWritten = ServerStart + TimeSpan.FromSeconds(30);

        Assert.True(ban.At > liftWritten, "the raw clocks would bring the lifted ban back");
        Assert.False(clock.BannedAfter(ban, liftWritten));
    }

    // A ban received from another node is held with the server's stamp of its write in this node's clock (ToLocal), so
    // a lifting the server stamped later orders after it whatever this node's skew (issue 24: the maker's clock is not used).
    [Theory]
    [InlineData(120)]
    [InlineData(-120)]
    public void BannedAfter_AReceivedBanHeldInServerTime_OrdersBeforeALaterLifting(int skewSeconds)
    {
        var (_, clock) = NodeSkewed(TimeSpan.FromSeconds(skewSeconds));
        var written = ServerStart + TimeSpan.FromSeconds(10);
        var held = clock.ToLocal(written);
        var ban = new Ban(BanKind.ClientId, "c1", "test", "node-b", held, held + TimeSpan.FromHours(1));

        Assert.Equal(written, clock.ToServer(held));
        Assert.False(clock.BannedAfter(ban, written + TimeSpan.FromSeconds(5)));
        Assert.True(clock.BannedAfter(ban, written - TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void BannedAfter_SameSecondAsTheLifting_DoubtKeepsTheBan()
    {
        var (node, clock) = NodeSkewed(TimeSpan.FromMinutes(2));
        var at = DateTimeOffset.FromUnixTimeSeconds(clock.ToServer(node.GetUtcNow()).ToUnixTimeSeconds()) - clock.Offset;
        var ban = new Ban(BanKind.ClientId, "c1", "test", "tests", at, at + TimeSpan.FromHours(1));

        Assert.True(clock.BannedAfter(ban, clock.ToServer(at) + TimeSpan.FromMilliseconds(900)));
        Assert.False(clock.BannedAfter(ban, clock.ToServer(at) + TimeSpan.FromMilliseconds(1100)));
    }

    [Fact]
    public void LiftedAfter_WithinTheSamplesError_DoubtKeepsTheBan()
    {
        var (node, clock) = NodeSkewed(TimeSpan.FromMinutes(2));
        var lifted = LiftOn(node, "c1");
        var liftedOnServer = clock.ToServer(lifted.At);

        Assert.Equal(RoundTrip / 2, clock.Error);
        Assert.False(clock.LiftedAfter(lifted, liftedOnServer - clock.Error));
        Assert.True(clock.LiftedAfter(lifted, liftedOnServer - clock.Error - TimeSpan.FromMilliseconds(1)));
    }

    [Fact]
    public void Sample_KeepsTheTighterEstimate_FollowsAComparableNewerOne()
    {
        var clock = new ServerClock();
        Assert.False(clock.Known);
        Assert.Equal(TimeSpan.Zero, clock.Offset);

        var t = ServerStart;
        clock.Sample(t, t + TimeSpan.FromSeconds(5) + TimeSpan.FromMilliseconds(1), t + TimeSpan.FromMilliseconds(2));
        Assert.Equal(TimeSpan.FromSeconds(5), clock.Offset);

        // A slow write (1 s round trip) says little: the estimate stays.
        clock.Sample(t, t + TimeSpan.FromSeconds(9), t + TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(5), clock.Offset);

        // The node's clock stepped: a write as quick as the first is followed.
        clock.Sample(t, t + TimeSpan.FromSeconds(7) + TimeSpan.FromMilliseconds(1), t + TimeSpan.FromMilliseconds(2));
        Assert.Equal(TimeSpan.FromSeconds(7), clock.Offset);
        Assert.True(clock.Known);
    }
}
