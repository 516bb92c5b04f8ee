using Broker.Core.AccessControl;

namespace Broker.Core.Cluster;

/// <summary>
/// Told of every change this node makes to its banned list (an operator's ban or unban, a login_failure ban), so the
/// cluster can make it on every node, as EMQX replicates its banned table. Changes that came from another node
/// (<see cref="Hosting.IClusterPort.ApplyBanAsync"/>, <see cref="Hosting.IClusterPort.ApplyUnban"/>) are not told
/// again. Called on the changing thread, after the change: implementations only queue.
/// </summary>
public interface IBanObserver
{
    /// <summary><paramref name="ban"/> was added here; <paramref name="disconnects"/>: its matching clients were disconnected (an operator's ban).</summary>
    void BanAdded(Ban ban, bool disconnects);

    /// <summary>The ban of <paramref name="who"/> as <paramref name="kind"/> was lifted here.</summary>
    void BanRemoved(BanKind kind, string who);
}
