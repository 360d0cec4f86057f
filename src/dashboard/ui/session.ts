// Who the app is logged in as: the bearer token the user typed, kept in sessionStorage (gone
// with the tab, never sent by the browser on its own as a cookie would be).
const TOKEN_KEY = "gantry.dashboard.token";

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  login: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  logout: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An API's refusal: its status and its own message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
