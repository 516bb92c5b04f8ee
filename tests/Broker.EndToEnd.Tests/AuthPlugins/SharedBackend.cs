namespace Broker.EndToEnd.Tests.AuthPlugins;

/// <summary>
/// One backend server for a whole test class (an xUnit class fixture), started by the first test that asks for it:
/// starting MariaDB, PostgreSQL or slapd costs seconds, emptying its tables or subtree milliseconds. Every test that asks
/// gets it emptied first (<see cref="IAuthBackendServer.ResetAsync"/>), so the tests stay independent of each other and
/// of their order. Tests that kill, freeze or never start their backend, or need one configured otherwise (TLS), keep
/// their own. A server that cannot be started fails each test that asks for it with the start's own message, which
/// names the missing package: never a skip.
/// </summary>
public sealed class SharedBackend<TServer> : IAsyncDisposable
    where TServer : IAuthBackendServer
{
    private readonly Lock _lock = new();
    private Task<TServer>? _started;

    /// <summary>The class's server (started with <paramref name="start"/> the first time), emptied of earlier tests' data.</summary>
    public async Task<TServer> GetAsync(Func<Task<TServer>> start)
    {
        Task<TServer> started;
        lock (_lock)
            started = _started ??= start();
        var server = await started;
        await server.ResetAsync();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (_started is { IsCompletedSuccessfully: true })
            await _started.Result.DisposeAsync();
    }
}
