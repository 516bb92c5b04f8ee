namespace Broker.Plugins.AuthJwt;

/// <summary>Where the token is in CONNECT (<c>auth.jwt.from</c>).</summary>
internal enum TokenSource
{
    /// <summary>The password field.</summary>
    Password,
    /// <summary>The user name field.</summary>
    Username,
}

/// <summary>One <c>auth.jwt.verify_claims.&lt;claim&gt;</c>.</summary>
internal sealed class ClaimCheck
{
    [ConfKey("", "The value the claim must have (as a string); %u and %c are the client's user name and client id.")]
    public string Value { get; set; } = "";
}

/// <summary>etc/plugins/auth_jwt.conf: EMQX 4's <c>auth.jwt.*</c> keys.</summary>
internal sealed class AuthJwtOptions : IValidatableOptions
{
    [ConfKey("auth.jwt.secret", "The HMAC secret of HS256/HS384/HS512 tokens; empty = HMAC tokens are refused. (EMQX ships `emqxsecret`; a default secret anybody can read would admit anybody, so there is none here.)")]
    public string Secret { get; set; } = "";

    [ConfKey("auth.jwt.pubkey", "PEM file of the RSA or EC public key (or a certificate) of RS*/PS*/ES* tokens; empty = none.")]
    public string PublicKey { get; set; } = "";

    [ConfKey("auth.jwt.jwks", "URL of a JSON Web Key Set (RSA and EC keys, chosen by the token's kid); empty = none.")]
    public string Jwks { get; set; } = "";

    [ConfKey("auth.jwt.jwks.refresh_interval", "How often the JWKS is fetched again (after a failed fetch: every 10 s until one succeeds).", Unit = ConfUnit.Duration, Min = "1s")]
    public TimeSpan JwksRefreshInterval { get; set; } = TimeSpan.FromMinutes(5);

    [ConfKey("auth.jwt.from", "Where the client puts the token: password or username.")]
    public TokenSource From { get; set; } = TokenSource.Password;

    [ConfKey("auth.jwt.verify_claims", "Check the claims listed as auth.jwt.verify_claims.<claim> = <value>.")]
    public bool VerifyClaims { get; set; }

    [ConfMap("auth.jwt.verify_claims", "A claim the token must carry with this value, e.g. auth.jwt.verify_claims.username = %u.")]
    public Dictionary<string, ClaimCheck> Claims { get; set; } = [];

    [ConfKey("auth.jwt.acl_claim_name", "The claim holding the client's ACL: {\"pub\": [...], \"sub\": [...], \"all\": [...]} topic filters (%u, %c); a token with it may do only what it lists.")]
    public string AclClaimName { get; set; } = "acl";

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (Secret.Length == 0 && PublicKey.Length == 0 && Jwks.Length == 0)
            yield return ("auth.jwt.secret", "set at least one of auth.jwt.secret, auth.jwt.pubkey and auth.jwt.jwks: without a key no token can be verified");
        if (Jwks.Length > 0 && !(Uri.TryCreate(Jwks, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            yield return ("auth.jwt.jwks", "not an http:// or https:// URL");
        if (VerifyClaims && Claims.Count == 0)
            yield return ("auth.jwt.verify_claims", "on, but no auth.jwt.verify_claims.<claim> = <value> is set");
    }
}
