namespace Broker.Plugins.Auth;

/// <summary>What a backend returned for a user: the stored password and salt (for the <c>password_hash</c> check).</summary>
/// <param name="Password">The password field (hash or plain text).</param>
/// <param name="Salt">The salt field, when the query returns one.</param>
public sealed record StoredCredentials(string? Password, string? Salt)
{
    /// <summary>
    /// Whether the user is a superuser, when the lookup that found the password told it too (LDAP: one search returns
    /// the whole entry); <see cref="AuthService"/> then makes no superuser query for this CONNECT.
    /// </summary>
    public bool? IsSuperuser { get; init; }

    /// <summary>The user's ACL, when the lookup that found the password returned it too; no ACL query is made then.</summary>
    public IReadOnlyList<AclRule>? Acl { get; init; }
}

/// <summary>
/// One backend of an auth plugin (Redis, MySQL, PostgreSQL, MongoDB): the three lookups EMQX 4 makes, each with the
/// query the operator configured. <see cref="AuthService"/> adds the password check, the failure policy, the outage
/// cache and the hooks, so a backend only talks to its server.
/// </summary>
public interface IAuthBackend : IAsyncDisposable
{
    /// <summary>The backend's name for logs and errors (<c>redis</c>, <c>mysql</c>, ...).</summary>
    string Name { get; }

    /// <summary>Whether an auth query is configured.</summary>
    bool HasAuthQuery { get; }

    /// <summary>Whether a superuser query is configured.</summary>
    bool HasSuperQuery { get; }

    /// <summary>Whether an ACL query is configured.</summary>
    bool HasAclQuery { get; }

    /// <summary>The client's stored credentials, or null when the backend does not know it.</summary>
    Task<StoredCredentials?> FindCredentialsAsync(ClientInfo client, CancellationToken cancellationToken);

    /// <summary>Whether the superuser query says the client is one.</summary>
    Task<bool> IsSuperuserAsync(ClientInfo client, CancellationToken cancellationToken);

    /// <summary>The ACL rows for the client, in the backend's order.</summary>
    Task<IReadOnlyList<AclRule>> LoadAclAsync(ClientInfo client, CancellationToken cancellationToken);

    /// <summary>A cheap round trip, to learn whether an unreachable server is back.</summary>
    Task PingAsync(CancellationToken cancellationToken);

    /// <summary>Whether <paramref name="exception"/> means the server cannot be reached (not a bad query).</summary>
    bool IsUnreachable(Exception exception);
}

/// <summary>What a failure of the backend (error, timeout, unreachable) means for the client: EMQX's <c>on_error</c>.</summary>
public enum OnError
{
    /// <summary>Refuse the CONNECT (Server Unavailable) or the PUBLISH/SUBSCRIBE. The default.</summary>
    Deny,
    /// <summary>As if this source did not know the client: the next source (then <c>allow_anonymous</c> / <c>acl_nomatch</c>) decides.</summary>
    Ignore,
}

/// <summary>The settings every auth plugin has, whatever its backend (each plugin binds them under its own prefix).</summary>
/// <param name="PasswordHash">How stored passwords are hashed.</param>
/// <param name="QueryTimeout">How long one query may take; it is cancelled after.</param>
/// <param name="OnError">What a backend failure means.</param>
/// <param name="CacheOnOutage">How long a user's last successful lookup may stand in while the backend is unreachable; zero = off.</param>
public sealed record AuthSettings(PasswordHash PasswordHash, TimeSpan QueryTimeout, OnError OnError, TimeSpan CacheOnOutage);
