namespace Broker.Plugins.Auth;

/// <summary>
/// Implemented by an <see cref="IAuthBackend"/> that checks passwords itself instead of with <c>password_hash</c>: an
/// LDAP directory's RFC 2307 <c>{SSHA}...</c> values carry their own scheme, and <c>bind_as_user</c> asks the server.
/// <see cref="AuthService"/> runs the check as a query (timeout, failure policy); false = Bad User Name or Password.
/// </summary>
public interface IPasswordChecker
{
    /// <summary>Whether <paramref name="password"/> is the password of the user <paramref name="credentials"/> describe.</summary>
    Task<bool> CheckPasswordAsync(ClientInfo client, ReadOnlyMemory<byte> password, StoredCredentials credentials, CancellationToken cancellationToken);
}
