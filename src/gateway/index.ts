// The Worker entry point: the front door's fetch handler and the Member Durable Object class.
import { createApp } from './app.ts'

export { Member } from '../member/member.ts'

export default createApp()
