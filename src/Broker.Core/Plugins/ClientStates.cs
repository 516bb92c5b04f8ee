using System.Runtime.CompilerServices;
using Broker.Abstractions;
using Broker.Abstractions.Plugins;

namespace Broker.Core.Plugins;

/// <summary>
/// Every plugin instance's <see cref="IClientState"/>: the engine drops a connection's entries from all of them when
/// it closes, and the plugin host drops an instance's whole store when it stops.
/// </summary>
internal sealed class ClientStates
{
    private readonly Lock _lock = new();
    private Store[] _stores = [];

    /// <summary>A new, empty store for one plugin instance.</summary>
    public IClientState Create()
    {
        var store = new Store();
        lock (_lock)
            Volatile.Write(ref _stores, [.. _stores, store]);
        return store;
    }

    /// <summary>The plugin instance has stopped: its store is emptied and forgotten.</summary>
    public void Release(IClientState state)
    {
        if (state is not Store store)
            return;
        lock (_lock)
            Volatile.Write(ref _stores, Array.FindAll(_stores, s => !ReferenceEquals(s, store)));
        store.Clear();
    }

    /// <summary>A connection has closed: every plugin's entry for it goes.</summary>
    public void Drop(ClientInfo client)
    {
        foreach (var store in Volatile.Read(ref _stores))
            store.Remove(client);
    }

    /// <summary>Keyed by the connection's <see cref="ClientInfo"/>, weakly: an entry never outlives it.</summary>
    private sealed class Store : IClientState
    {
        private readonly ConditionalWeakTable<ClientInfo, object> _values = [];

        public void Set<T>(ClientInfo client, T value) where T : class
        {
            ArgumentNullException.ThrowIfNull(client);
            ArgumentNullException.ThrowIfNull(value);
            _values.AddOrUpdate(client, value);
        }

        public T? Get<T>(ClientInfo client) where T : class =>
            _values.TryGetValue(client, out var value) ? value as T : null;

        public bool Remove(ClientInfo client) => _values.Remove(client);

        public void Clear() => _values.Clear();
    }
}
