namespace Broker.Abstractions.Plugins;

/// <summary>
/// Data a plugin keeps with one connection (SDK 1.4): what its <c>client.authenticate</c> callback learned (superuser,
/// ACL rows, JWT claims, a mountpoint) for its <c>client.authorize</c> callback to read later, without a lookup of its
/// own. Each plugin instance has its own (<see cref="IPluginContext.ClientState"/>): plugins never see each other's.
/// </summary>
/// <remarks>
/// An entry is dropped when the connection closes (after <c>client.disconnected</c>, which may still read it) and
/// when the plugin instance stops, so nothing of an unloaded plugin stays reachable from a connection. A reloaded
/// instance starts empty: connections authenticated by its predecessor have no entry, so treat a missing entry as
/// "load it now" (or deny), never as "allowed". Thread-safe; reading costs one lookup, no allocation.
/// </remarks>
public interface IClientState
{
    /// <summary>Attaches <paramref name="value"/> to <paramref name="client"/>'s connection, replacing any earlier value.</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="client">The connection's client (<see cref="Hooks.HookContext.Client"/>).</param>
    /// <param name="value">The value; treat it as immutable once attached (other threads read it).</param>
    void Set<T>(ClientInfo client, T value) where T : class;

    /// <summary>The value attached to <paramref name="client"/>'s connection, or null (none, or not a <typeparamref name="T"/>).</summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="client">The connection's client.</param>
    T? Get<T>(ClientInfo client) where T : class;

    /// <summary>Drops the value attached to <paramref name="client"/>'s connection; false when there was none.</summary>
    /// <param name="client">The connection's client.</param>
    bool Remove(ClientInfo client);
}
