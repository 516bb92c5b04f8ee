using System.Collections.Concurrent;

namespace Broker.Plugins.AuthLdap.Native;

/// <summary>
/// Up to <c>size</c> libldap sessions of one kind (bound as the service DN, or left unbound for binds as users), each
/// used by one call at a time, opened on demand; a session whose call failed is closed, never reused.
/// </summary>
/// <remarks>
/// libldap's synchronous calls block, so each runs on the thread pool with the pool's size as the bound on threads
/// waiting for the server; each has the settings' timeout as its own limit besides the caller's cancellation.
/// <para>
/// Why this lives in its own assembly, loaded once into the host's shared, never unloaded context (plugin.json's sharedAssemblies):
/// a thread blocked in libldap must have no frame of the plugin's collectible load context on its stack, or unloading
/// that context while the thread is still in native code (a reload under load: the old instance is unloaded and full
/// GCs are forced while its last calls run) crashed the runtime. So the lambdas that block are here, and the API takes
/// and returns plain data only: no type and no delegate of the plugin crosses it.
/// </para>
/// </remarks>
public sealed class LdapPool
{
    private readonly LdapSettings _settings;
    private readonly bool _bindAsService;
    private readonly int _size;
    private readonly ConcurrentBag<LdapSession> _idle = [];
    private readonly SemaphoreSlim _slots;
    private volatile bool _closed;

    /// <summary>A pool of at most <paramref name="size"/> sessions to <paramref name="settings"/>' servers.</summary>
    /// <param name="settings">Servers, timeout, TLS and the service DN.</param>
    /// <param name="bindAsService">Whether each new session binds as <see cref="LdapSettings.BindDn"/> first.</param>
    /// <param name="size">The most sessions (and calls running) at a time.</param>
    public LdapPool(LdapSettings settings, bool bindAsService, int size)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        _settings = settings;
        _bindAsService = bindAsService;
        _size = size;
        _slots = new SemaphoreSlim(size, size);
    }

    /// <summary>
    /// The entries under <paramref name="baseDn"/> (in <paramref name="scope"/>, an <see cref="LdapScope"/>) matching
    /// <paramref name="filter"/>, with <paramref name="attributes"/>, at most <paramref name="sizeLimit"/>; a base that
    /// does not exist finds none. Throws <see cref="LdapError"/> when the server fails.
    /// </summary>
    public Task<List<LdapEntry>> SearchAsync(string baseDn, int scope, string filter, string[] attributes, int sizeLimit, CancellationToken cancellationToken)
    {
        var timeout = _settings.Timeout;
        return RunAsync(session => session.Search(baseDn, scope, filter, attributes, timeout, sizeLimit), cancellationToken);
    }

    /// <summary>
    /// Whether a simple bind as <paramref name="dn"/> with <paramref name="password"/> succeeds (false: wrong DN or
    /// password). Throws <see cref="LdapError"/> on other failures.
    /// </summary>
    public Task<bool> BindAsync(string dn, string password, CancellationToken cancellationToken) =>
        RunAsync(session => session.Bind(dn, password) == LibLdap.Success, cancellationToken);

    /// <summary>Reads the root DSE, which any server answers, bound or not.</summary>
    public Task PingAsync(CancellationToken cancellationToken)
    {
        var timeout = _settings.Timeout;
        return RunAsync(session => session.Search("", LibLdap.ScopeBase, "(objectClass=*)", ["1.1"], timeout, 1), cancellationToken);
    }

    /// <summary>Runs <paramref name="call"/> on an idle (or new) session on the thread pool.</summary>
    private async Task<T> RunAsync<T>(Func<LdapSession, T> call, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        // Once on the thread pool the call runs to its end (libldap cannot be interrupted; its own timeout ends
        // it); the caller stops waiting at the query's timeout. A session whose call failed is closed.
        return await Task.Run(() =>
        {
            LdapSession? session = null;
            try
            {
                session = _idle.TryTake(out var idle) ? idle : Open();
                var result = call(session);
                if (_closed)
                    session.Dispose(); // a call that came in after the pool closed (a CONNECT already in the hook chain)
                else
                    _idle.Add(session);
                return result;
            }
            catch
            {
                session?.Dispose();
                throw;
            }
            finally
            {
                _slots.Release();
            }
        }, CancellationToken.None).ConfigureAwait(false);
    }

    private LdapSession Open()
    {
        var session = LdapSession.Open(_settings);
        try
        {
            if (_bindAsService && session.Bind(_settings.BindDn, _settings.BindPassword) != LibLdap.Success)
                throw new LdapError(LibLdap.InvalidCredentials, "bind as auth.ldap.bind_dn");
            return session;
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Closes the idle sessions once the calls running now have ended (taking every slot waits for them), at most
    /// <paramref name="limit"/>; a call still running after that closes its session when it returns, as does any call
    /// made after this.
    /// </summary>
    public async Task CloseAsync(TimeSpan limit)
    {
        _closed = true;
        using var timeout = new CancellationTokenSource(limit);
        var taken = 0;
        try
        {
            for (; taken < _size; taken++)
                await _slots.WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // a call past libldap's own timeout: its session is closed when it returns
        }
        while (_idle.TryTake(out var session))
            session.Dispose();
        if (taken > 0)
            _slots.Release(taken);
    }
}
